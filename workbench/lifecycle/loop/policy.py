"""Loop policies: ``[tool.workbench.loop.NAME]`` tables, read and checked.

::

    [tool.workbench.loop.cancer-classifier]
    notebook = "notebooks/train.ipynb"      # the training job (relative to pyproject.toml)
    parameters = { model = "forest" }       # its parameters
    on_new_data = "customers"               # a new version of this datamart triggers a retrain
    dataset = "customers"                   # the dataset whose newest version the job gets (default: on_new_data's)
    data_parameter = "datamart"             # the notebook parameter given "NAME@VERSION" (default)
    on_drift = { psi = 0.25, features = 3 } # PSI over 0.25 on 3+ features of production's traffic
    on_live = { precision = 0.85, recall = 0.85, min_labels = 200 }  # production's live figures below these
    schedule = "0 3 * * 1"                  # and/or a cron retrain (UTC)
    challenger_weight = 0.2
    decide = { metric = "f1", min_labels = 300, confidence = 0.95, max_days = 14 }
    cooldown = "6h"
    timeout = "1h"                          # the training job's time limit

Every malformed entry is a :class:`ConfigError` of one line naming the table and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import Settings, load_settings
from workbench.errors import BadParametersError, ConfigError, InvalidNameError
from workbench.jobs.params import validate_parameters
from workbench.lifecycle.loop.sequential import METRICS
from workbench.names import validate_name

HINT = "docs/loop.md lists the keys of a loop policy"
KEYS = (
    "notebook",
    "parameters",
    "dataset",
    "data_parameter",
    "on_new_data",
    "on_drift",
    "on_live",
    "schedule",
    "challenger_weight",
    "decide",
    "cooldown",
    "timeout",
)
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class DriftTrigger:
    """Retrain when at least ``features`` features of production's served inputs have PSI above
    ``psi``, computed over at least ``min_rows`` rows."""

    psi: float = 0.25
    features: int = 1
    min_rows: int = 200


@dataclass(frozen=True)
class LiveTrigger:
    """Retrain when production's live macro figures (over its newest ``window`` labels, at least
    ``min_labels`` of them) fall below any threshold given."""

    thresholds: dict[str, float]
    min_labels: int = 200
    window: int = 500


@dataclass(frozen=True)
class DecideRule:
    """The online decision: ``metric`` compared at ``confidence`` once each arm has ``min_labels``
    labels; a challenger still undecided after ``max_days`` is retired."""

    metric: str = "f1"
    min_labels: int = 300
    confidence: float = 0.95
    max_days: float = 14.0


@dataclass(frozen=True)
class Policy:
    """The loop of one model; see the module docstring for the keys."""

    model: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    data_parameter: str = "datamart"
    dataset: str | None = None
    on_new_data: str | None = None
    on_drift: DriftTrigger | None = None
    on_live: LiveTrigger | None = None
    schedule: str | None = None
    challenger_weight: float = 0.2
    decide: DecideRule = field(default_factory=DecideRule)
    cooldown_s: float = 6 * 3600.0
    timeout_s: float = 3600.0

    def triggers(self) -> list[str]:
        """The kinds of trigger this policy declares."""
        found = [("new_data", self.on_new_data), ("drift", self.on_drift), ("live", self.on_live)]
        return [name for name, value in found if value is not None] + (["schedule"] if self.schedule else [])

    def to_record(self) -> dict[str, Any]:
        """Plain JSON, as status shows it."""
        return {
            "model": self.model,
            "notebook": str(self.notebook),
            "parameters": dict(self.parameters),
            "data_parameter": self.data_parameter,
            "dataset": self.dataset,
            "on_new_data": self.on_new_data,
            "on_drift": vars(self.on_drift) if self.on_drift else None,
            "on_live": (
                {**self.on_live.thresholds, "min_labels": self.on_live.min_labels, "window": self.on_live.window}
                if self.on_live
                else None
            ),
            "schedule": self.schedule,
            "challenger_weight": self.challenger_weight,
            "decide": vars(self.decide),
            "cooldown_s": self.cooldown_s,
            "timeout_s": self.timeout_s,
        }


class _Reader:
    """Reads one policy table, raising one-line errors that name the table and the key."""

    def __init__(self, model: str, table: Mapping[str, Any]) -> None:
        self.where = f"[tool.workbench.loop.{model}]"
        self.table = table

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where} {key} {problem}", hint=HINT, key=key)

    def number(self, key: str, value: Any, low: float, high: float, *, low_open: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"must be a number, not {value!r}")
        if value < low or value > high or (low_open and value == low):
            bounds = f"{'above' if low_open else 'at least'} {low:g} and at most {high:g}"
            raise self.fail(key, f"must be {bounds}, not {value!r}")
        return float(value)

    def integer(self, key: str, value: Any, low: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(key, f"must be a whole number of at least {low}, not {value!r}")
        return value

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def duration(self, key: str, value: Any) -> float:
        """Seconds from a number of seconds or text like "90s", "30m", "6h", "14d"."""
        if isinstance(value, str):
            found = _DURATION.fullmatch(value)
            if found is None:
                raise self.fail(key, f'must be a duration like "45s", "30m", "6h" or "2d", not {value!r}')
            return float(found.group(1)) * _UNITS[found.group(2)]
        return self.number(key, value, 0, 366 * 86400.0, low_open=False)

    def sub_table(self, key: str, value: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table like {{ {allowed[0]} = ... }}, not {value!r}")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"is not a key of {key}; its keys are {', '.join(allowed)}")
        return value


def _drift(reader: _Reader, value: Any) -> DriftTrigger:
    table = reader.sub_table("on_drift", value, ("psi", "features", "min_rows"))
    defaults = DriftTrigger()
    return DriftTrigger(
        psi=reader.number("on_drift.psi", table.get("psi", defaults.psi), 0, 100),
        features=reader.integer("on_drift.features", table.get("features", defaults.features)),
        min_rows=reader.integer("on_drift.min_rows", table.get("min_rows", defaults.min_rows)),
    )


def _live(reader: _Reader, value: Any) -> LiveTrigger:
    table = reader.sub_table("on_live", value, ("precision", "recall", "f1", "min_labels", "window"))
    thresholds = {
        key: reader.number(f"on_live.{key}", table[key], 0, 1) for key in ("precision", "recall", "f1") if key in table
    }
    if not thresholds:
        raise reader.fail("on_live", "needs at least one of precision, recall, f1")
    min_labels = reader.integer("on_live.min_labels", table.get("min_labels", 200))
    window = reader.integer("on_live.window", table.get("window", max(500, min_labels)), min_labels)
    return LiveTrigger(thresholds, min_labels, window)


def _decide(reader: _Reader, value: Any) -> DecideRule:
    table = reader.sub_table("decide", value, ("metric", "min_labels", "confidence", "max_days"))
    defaults = DecideRule()
    metric = table.get("metric", defaults.metric)
    if metric not in METRICS:
        raise reader.fail("decide.metric", f"must be one of {', '.join(METRICS)}, not {metric!r}")
    return DecideRule(
        metric=metric,
        min_labels=reader.integer("decide.min_labels", table.get("min_labels", defaults.min_labels)),
        confidence=reader.number("decide.confidence", table.get("confidence", defaults.confidence), 0.5, 0.9999,
                                 low_open=False),
        max_days=reader.number("decide.max_days", table.get("max_days", defaults.max_days), 0, 3660),
    )


def _dataset(reader: _Reader, key: str, value: Any) -> str | None:
    if value is None:
        return None
    name = reader.text(key, value)
    try:
        return validate_name(name, "dataset name")
    except InvalidNameError as exc:
        raise reader.fail(key, f"does not name a dataset: {exc.message}") from None


def parse_policy(model: str, table: Any, root: Path) -> Policy:
    """The policy of ``model`` from its table; relative paths are taken from ``root``."""
    try:
        validate_name(model, "model name")
    except InvalidNameError as exc:
        raise ConfigError(f"[tool.workbench.loop.{model}] does not name a model: {exc.message}", hint=HINT) from None
    reader = _Reader(model, table if isinstance(table, Mapping) else {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{reader.where} must be a table, not {type(table).__name__}", hint=HINT)
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise reader.fail(unknown[0], f"is not a loop policy key; the keys are {', '.join(KEYS)}")
    if "notebook" not in table:
        raise reader.fail("notebook", "is missing: name the training notebook the loop runs")
    notebook = Path(reader.text("notebook", table["notebook"]))
    notebook = notebook if notebook.is_absolute() else root / notebook
    if not notebook.is_file():
        raise reader.fail("notebook", f"names {notebook}, which is not a file")
    parameters = table.get("parameters", {})
    if not isinstance(parameters, Mapping):
        raise reader.fail("parameters", f"must be a table of notebook parameters, not {parameters!r}")
    try:
        parameters = validate_parameters(parameters)
    except BadParametersError as exc:
        raise reader.fail("parameters", f"are refused: {exc.message}") from None
    data_parameter = reader.text("data_parameter", table.get("data_parameter", "datamart"))
    if not data_parameter.isidentifier():
        raise reader.fail("data_parameter", f"must be a notebook parameter name, not {data_parameter!r}")
    on_new_data, dataset = (_dataset(reader, key, table.get(key)) for key in ("on_new_data", "dataset"))
    schedule = None
    if "schedule" in table:
        from croniter import croniter

        schedule = reader.text("schedule", table["schedule"])
        if not croniter.is_valid(schedule):
            raise reader.fail("schedule", f'must be a cron expression like "0 3 * * 1", not {schedule!r}')
    policy = Policy(
        model=model,
        notebook=notebook.resolve(),
        parameters=dict(parameters),
        data_parameter=data_parameter,
        dataset=dataset or on_new_data,
        on_new_data=on_new_data,
        on_drift=_drift(reader, table["on_drift"]) if "on_drift" in table else None,
        on_live=_live(reader, table["on_live"]) if "on_live" in table else None,
        schedule=schedule,
        challenger_weight=reader.number("challenger_weight", table.get("challenger_weight", 0.2), 0, 0.9999),
        decide=_decide(reader, table.get("decide", {})),
        cooldown_s=reader.duration("cooldown", table.get("cooldown", "6h")),
        timeout_s=reader.duration("timeout", table.get("timeout", "1h")),
    )
    if policy.timeout_s <= 0:
        raise reader.fail("timeout", "must be longer than 0 seconds")
    if not policy.triggers():
        raise reader.fail("on_new_data", "or on_drift, on_live or schedule must be set: the policy has no trigger")
    return policy


def load_policies(settings: Settings | None = None) -> dict[str, Policy]:
    """Every policy of ``[tool.workbench.loop]`` in the settings' pyproject.toml, by model name."""
    settings = settings or load_settings()
    section = settings.section("loop")
    root = settings.project_root or Path.cwd()
    return {name: parse_policy(name, table, root) for name, table in sorted(section.items())}


__all__ = ["HINT", "KEYS", "DecideRule", "DriftTrigger", "LiveTrigger", "Policy", "load_policies", "parse_policy"]
