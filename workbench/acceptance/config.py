"""Gates as declared in ``[tool.workbench.acceptance]``: parsed and checked before anything runs.

::

    [tool.workbench.acceptance]          # defaults for every model (optional)
    confidence = 0.95                    # the interval's lower bound must clear each threshold
    bootstrap = 1000                     # resamples behind each interval
    seed = 0                             # of the bootstrap: same data, same verdict

    [tool.workbench.acceptance.churn]
    holdout = "sklearn:breast_cancer"    # or data/holdout.csv (with target = "..."), or pkg.mod:func
    holdout_sha256 = "…"                 # optional pin: a changed holdout fails the gates
    test_size = 0.25                     # optional: keep the stratified test part (split_seed)
    precision = 0.90
    recall = 0.85
    per_class = { "1" = { recall = 0.9 } }
    no_worse_than = "production"         # each thresholded metric, against that stage's version
    tolerance = 0.01
    slices = { big = { column = "revenue", min = 10000, recall = 0.9 } }   # or equals = "..."

A key nobody knows is an error, so a typo cannot silently switch a gate off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import AcceptanceError
from workbench.names import validate_name
from workbench.scoring import labelled
from workbench.storage.model_records import STAGES

OVERALL_METRICS: tuple[str, ...] = (
    "precision",
    "recall",
    "f1",
    "accuracy",
    "roc_auc",
    "precision_macro",
    "recall_macro",
    "f1_macro",
)
"""Metrics a gate can hold a threshold for; precision, recall and F1 are macro averages
(:mod:`workbench.scoring`) and the same as their ``_macro`` names."""

CLASS_METRICS: tuple[str, ...] = ("precision", "recall", "f1")

_SETTINGS = {"confidence", "bootstrap", "seed", "tolerance"}
_MODEL_KEYS = _SETTINGS | {
    "holdout",
    "target",
    "holdout_sha256",
    "test_size",
    "split_seed",
    "per_class",
    "no_worse_than",
    "slices",
}


@dataclass(frozen=True)
class Criterion:
    """One thing a model version must meet: ``metric`` (of class ``label``) at least ``threshold``.

    With ``baseline`` (a stage) the threshold is relative: the version's value minus the
    baseline version's value on the same holdout must be at least ``-threshold``.
    """

    metric: str
    threshold: float
    label: str | None = None
    baseline: str | None = None
    slice: str | None = None

    @property
    def key(self) -> str:
        """The score this criterion reads: ``recall`` or ``recall[1]`` (of its slice, if any)."""
        return self.metric if self.label is None else f"{self.metric}[{self.label}]"

    @property
    def id(self) -> str:
        """A name unique within a gate, used as the pytest item name: ``recall[1]@large-vs-production``."""
        where = self.key if self.slice is None else f"{self.key}@{self.slice}"
        return where if self.baseline is None else f"{where}-vs-{self.baseline}"

    def describe(self) -> str:
        """``precision (macro) >= 0.9``, ``recall of class 1 on slice big >= 0.8``, ..."""
        if self.label is not None:
            name = f"{self.metric} of class {self.label}"
        else:
            name = labelled(self.metric) if self.metric in CLASS_METRICS else self.metric
        where = name if self.slice is None else f"{name} on slice {self.slice}"
        if self.baseline is not None:
            return f"{where} no worse than {self.baseline} (tolerance {self.threshold:g})"
        return f"{where} >= {self.threshold:g}"


@dataclass(frozen=True)
class Slice:
    """Holdout rows whose ``column`` is ``equals``, or lies within ``[low, high]`` (either bound optional)."""

    name: str
    column: str
    low: float | None = None
    high: float | None = None
    equals: str | float | None = None

    def describe(self) -> str:
        if self.equals is not None:
            return f"{self.column} == {self.equals!r}"
        return " and ".join(
            part
            for part in (
                f"{self.column} >= {self.low:g}" if self.low is not None else "",
                f"{self.column} <= {self.high:g}" if self.high is not None else "",
            )
            if part
        )


@dataclass(frozen=True)
class GateConfig:
    """The acceptance gates of one model, with where its holdout comes from."""

    model: str
    holdout: str
    criteria: tuple[Criterion, ...]
    root: Path
    target: str | None = None
    holdout_sha256: str | None = None
    test_size: float | None = None
    split_seed: int = 0
    confidence: float | None = None
    bootstrap: int = 1000
    seed: int = 0
    slices: tuple[Slice, ...] = ()


def _fail(model: str, message: str) -> AcceptanceError:
    return AcceptanceError(f"gates of {model!r}: {message}", model=model)


def _fraction(model: str, key: str, value: object, *, closed: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(model, f"{key} must be a number, not {value!r}")
    low_ok = value >= 0 if closed else value > 0
    high_ok = value <= 1 if closed else value < 1
    if not (low_ok and high_ok):
        raise _fail(model, f"{key} = {value} is outside {'[0, 1]' if closed else '(0, 1)'}")
    return float(value)


def _integer(model: str, key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(model, f"{key} must be an integer from {low} to {high}, not {value!r}")
    return value


def _text(model: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(model, f"{key} must be a non-empty string, not {value!r}")
    return value.strip()


def parse_gate(
    model: str, table: Mapping[str, Any], defaults: Mapping[str, Any], root: Path, *, need_criteria: bool = True
) -> GateConfig:
    """One model's gates from its table, over the shared ``defaults``; relative paths from ``root``.

    ``need_criteria=False`` accepts a table with a holdout and no thresholds (what the
    pytest fixtures need to find a model's holdout).
    """
    validate_name(model, "model name")
    merged = {**{k: v for k, v in defaults.items() if k in _SETTINGS}, **table}
    unknown = sorted(set(merged) - _MODEL_KEYS - set(OVERALL_METRICS))
    if unknown:
        raise _fail(model, f"unknown key {unknown[0]!r}; metrics are {', '.join(OVERALL_METRICS)}")
    if "holdout" not in merged:
        raise _fail(
            model, "no holdout; add holdout = 'sklearn:breast_cancer', a CSV/Parquet path or 'pkg.module:function'"
        )
    criteria = [Criterion(m, _fraction(model, m, merged[m])) for m in OVERALL_METRICS if m in merged]
    per_class = merged.get("per_class", {})
    if not isinstance(per_class, Mapping):
        raise _fail(
            model, 'per_class must map a class label to its thresholds, as per_class = { "1" = { recall = 0.9 } }'
        )
    for label, thresholds in per_class.items():
        if not isinstance(thresholds, Mapping) or not thresholds:
            raise _fail(model, f"per_class.{label} must be a table of thresholds")
        for metric, value in thresholds.items():
            if metric not in CLASS_METRICS:
                raise _fail(model, f"per_class.{label}.{metric}: per-class metrics are {', '.join(CLASS_METRICS)}")
            criteria.append(Criterion(metric, _fraction(model, f"per_class.{label}.{metric}", value), label=str(label)))
    slices = _slices(model, merged.get("slices", {}))
    for piece, table_of_slice in merged.get("slices", {}).items():
        criteria += [
            Criterion(m, _fraction(model, f"slices.{piece}.{m}", table_of_slice[m]), slice=piece)
            for m in OVERALL_METRICS
            if m in table_of_slice
        ]
    if "no_worse_than" in merged:
        stage = merged["no_worse_than"]
        if stage not in STAGES:
            raise _fail(model, f"no_worse_than must be a stage ({', '.join(STAGES)}), not {stage!r}")
        tolerance = _fraction(model, "tolerance", merged.get("tolerance", 0.0))
        compared = [c for c in criteria if c.baseline is None]
        if not compared:
            raise _fail(model, "no_worse_than compares the thresholded metrics, and this gate has none")
        criteria += [Criterion(c.metric, tolerance, c.label, baseline=stage, slice=c.slice) for c in compared]
    if need_criteria and not criteria:
        raise _fail(model, "no thresholds; add e.g. precision = 0.9")
    sha = merged.get("holdout_sha256")
    confidence = merged.get("confidence")
    test_size = merged.get("test_size")
    return GateConfig(
        model=model,
        holdout=_text(model, "holdout", merged["holdout"]),
        criteria=tuple(criteria),
        root=root,
        target=_text(model, "target", merged["target"]) if "target" in merged else None,
        holdout_sha256=_text(model, "holdout_sha256", sha).lower() if sha is not None else None,
        test_size=_fraction(model, "test_size", test_size, closed=False) if test_size is not None else None,
        split_seed=_integer(model, "split_seed", merged.get("split_seed", 0), 0, 2**32 - 1),
        confidence=_fraction(model, "confidence", confidence, closed=False) if confidence is not None else None,
        bootstrap=_integer(model, "bootstrap", merged.get("bootstrap", 1000), 100, 100_000),
        seed=_integer(model, "seed", merged.get("seed", 0), 0, 2**32 - 1),
        slices=slices,
    )


def _slices(model: str, table: object) -> tuple[Slice, ...]:
    """``slices = { large = { column = "radius", min = 15, recall = 0.9 } }``: each with a threshold."""
    if not isinstance(table, Mapping):
        raise _fail(model, 'slices must map a name to a table, as slices = { large = { column = "x", min = 1 } }')
    found = []
    for name, spec in table.items():
        validate_name(name, "slice name")
        if not isinstance(spec, Mapping):
            raise _fail(model, f"slices.{name} must be a table")
        unknown = sorted(set(spec) - {"column", "min", "max", "equals"} - set(OVERALL_METRICS))
        if unknown:
            raise _fail(model, f"slices.{name}: unknown key {unknown[0]!r}; a slice has column, min, max or equals")
        if not set(spec) & set(OVERALL_METRICS):
            raise _fail(model, f"slices.{name} has no threshold; add e.g. recall = 0.9")
        bounds = {}
        for key in ("min", "max"):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _fail(model, f"slices.{name}.{key} must be a number, not {value!r}")
            bounds[key] = float(value) if value is not None else None
        equals = spec.get("equals")
        if (equals is None) == (bounds["min"] is None and bounds["max"] is None):
            raise _fail(model, f"slices.{name} needs either equals or min/max")
        found.append(
            Slice(name, _text(model, f"slices.{name}.column", spec.get("column")), bounds["min"], bounds["max"], equals)
        )
    return tuple(found)


def parse_gates(section: Mapping[str, Any], root: Path) -> dict[str, GateConfig]:
    """Every model's gates in a ``[tool.workbench.acceptance]`` table: sub-tables are models."""
    defaults = {k: v for k, v in section.items() if not isinstance(v, Mapping)}
    unknown = sorted(set(defaults) - _SETTINGS)
    if unknown:
        raise AcceptanceError(
            f"[tool.workbench.acceptance] has unknown key {unknown[0]!r}; "
            f"shared settings are {', '.join(sorted(_SETTINGS))}, models are sub-tables"
        )
    return {
        name: parse_gate(name, table, defaults, root) for name, table in section.items() if isinstance(table, Mapping)
    }


def load_gates(cwd: str | Path | None = None) -> dict[str, GateConfig]:
    """The gates declared in the ``pyproject.toml`` nearest to ``cwd`` (default: the working directory)."""
    from workbench.config import load_settings

    settings = load_settings(cwd=cwd)
    root = settings.project_root or Path.cwd()
    return parse_gates(settings.section("acceptance"), root)


def gate_for(
    model: str, cwd: str | Path | None = None, *, need_criteria: bool = True, **overrides: Any
) -> GateConfig | None:
    """The gates of ``model`` (``None`` when it has none), keys in ``overrides`` replacing declared ones.

    An override of ``None`` removes the declared key (``recall=None``: no recall threshold).
    """
    from workbench.config import load_settings

    settings = load_settings(cwd=cwd)
    section = settings.section("acceptance")
    table = section.get(model, {})
    if not isinstance(table, Mapping):
        raise AcceptanceError(f"[tool.workbench.acceptance.{model}] must be a table")
    if not table and not overrides:
        return None
    defaults = {k: v for k, v in section.items() if not isinstance(v, Mapping)}
    root = settings.project_root or Path.cwd()
    merged = {k: v for k, v in {**table, **overrides}.items() if v is not None}
    return parse_gate(model, merged, defaults, root, need_criteria=need_criteria)


def no_gates_error(model: str, cwd: str | Path | None = None) -> AcceptanceError:
    """The error for a model without gates, saying which ``pyproject.toml`` was read (or that none was found)."""
    from workbench.config import load_settings

    start = Path(cwd) if cwd is not None else Path.cwd()
    settings = load_settings(cwd=start)
    table = f"[tool.workbench.acceptance.{model}]"
    if settings.project_root is None:
        return AcceptanceError(
            f"model {model!r} has no acceptance gates: there is no pyproject.toml in {start.resolve()} "
            "or any folder above it",
            hint=f"work from the project's folder, or declare the gates in {table} of a pyproject.toml there",
            model=model,
        )
    declared = sorted(name for name, value in settings.section("acceptance").items() if isinstance(value, Mapping))
    others = f"; it declares gates for {', '.join(declared)}" if declared else "; it declares none"
    return AcceptanceError(
        f"model {model!r} has no acceptance gates in {settings.project_root / 'pyproject.toml'}{others}",
        hint=f"declare them in {table} of that file",
        model=model,
    )


__all__ = [
    "CLASS_METRICS",
    "OVERALL_METRICS",
    "Criterion",
    "GateConfig",
    "Slice",
    "gate_for",
    "load_gates",
    "no_gates_error",
    "parse_gate",
    "parse_gates",
]
