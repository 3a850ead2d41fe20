"""Acceptance gates: the precision/recall thresholds a model must meet, as executable tests.

Gates are declared per model in ``[tool.workbench.acceptance.NAME]`` of
``pyproject.toml`` (see :mod:`workbench.acceptance.config`). The same evaluation runs
from ``pytest --wb-acceptance`` (the plugin in :mod:`workbench.acceptance.plugin`),
from ``%acceptance NAME`` in a notebook, from :func:`run_gates`, and before every
promotion to production or challenger (:func:`judge_promotion`, called by
:func:`workbench.lifecycle.promotion.promote`). Importing this
package imports neither numpy nor scikit-learn.
"""

from __future__ import annotations

from workbench.acceptance.config import Criterion, GateConfig, gate_for, load_gates, parse_gates
from workbench.acceptance.gates import PromotionVerdict, check, evaluate, judge_promotion, run_gates
from workbench.acceptance.holdout import Holdout, data_sha256, load_holdout, read_source
from workbench.acceptance.report import CriterionResult, GateReport

__all__ = [
    "Criterion",
    "CriterionResult",
    "GateConfig",
    "GateReport",
    "Holdout",
    "PromotionVerdict",
    "check",
    "data_sha256",
    "evaluate",
    "gate_for",
    "judge_promotion",
    "load_gates",
    "load_holdout",
    "parse_gates",
    "read_source",
    "run_gates",
]
