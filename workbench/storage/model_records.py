"""The records of the model store: a model version (what the registry knows about it, and how it
shows in a notebook or a log) and a stage change.

A :class:`ModelVersion` is immutable apart from its stage. Its metadata round-trips
through plain JSON (``to_record`` / ``from_record``) so every store keeps the same
fields, and a schema version travels with the store rather than with each row.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from workbench.errors import StageError

STAGES: tuple[str, ...] = ("dev", "staging", "challenger", "production", "archived")


def validate_stage(stage: object) -> str:
    """Return ``stage`` when it is one of :data:`STAGES`; raise :class:`StageError` otherwise."""
    if not isinstance(stage, str) or stage not in STAGES:
        raise StageError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}", stage=repr(stage))
    return stage


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a named model: what it is, how it scored, where it stands.

    ``metrics`` holds the scalar scores (given and computed); ``evaluation`` the full
    report computed from ``eval_data`` (per-class scores); ``profile`` per-feature
    quantiles for later drift checks; ``format_info`` what the format needs to load the
    artifact safely (for skops, the exact list of types trusted at registration);
    ``extra_artifacts`` other verified renderings of the model (``onnx``: digest, size,
    rows on which its predictions were checked); ``datasets`` the datamart versions read by
    the process that registered it (``name``, ``version``), its lineage.
    """

    name: str
    version: int
    stage: str
    created_at: str
    format: str
    size: int
    sha256: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    n_features: int | None = None
    classes: list[Any] = field(default_factory=list)
    run_id: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    format_info: dict[str, Any] = field(default_factory=dict)
    extra_artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: list[dict[str, str]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """The fields a store keeps as metadata: everything but name, version and stage."""
        record = asdict(self)
        for key in ("name", "version", "stage"):
            record.pop(key)
        return record

    @classmethod
    def from_record(cls, name: str, version: int, stage: str, record: Mapping[str, Any]) -> ModelVersion:
        """Rebuild a version from a stored record; unknown keys (from a newer writer) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        return cls(name=name, version=int(version), stage=stage, **values)

    def with_stage(self, stage: str) -> ModelVersion:
        return replace(self, stage=validate_stage(stage))

    def _rows(self) -> list[tuple[str, str]]:
        metrics = ", ".join(f"{k}={format_number(v)}" for k, v in sorted(self.metrics.items())) or "-"
        rows = [
            ("model", f"{self.name} v{self.version}"),
            ("stage", self.stage),
            ("created", self.created_at),
            ("metrics", metrics),
            ("format", f"{self.format}, {self.size:,} bytes" + "".join(f" + {k}" for k in self.extra_artifacts)),
            ("sha256", self.sha256),
        ]
        if self.classes:
            rows.append(("classes", ", ".join(map(str, self.classes))))
        if self.n_features is not None:
            rows.append(("features", f"{self.n_features}: {shorten(', '.join(self.feature_names))}"))
        if self.params:
            rows.append(("params", shorten(", ".join(f"{k}={v}" for k, v in sorted(self.params.items())))))
        if self.tags:
            rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))))
        if self.run_id:
            rows.append(("run", self.run_id))
        if self.datasets:
            refs = (f"{d.get('name')}@{d.get('version')}" if isinstance(d, Mapping) else str(d) for d in self.datasets)
            rows.append(("datasets", shorten(", ".join(refs))))
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{key:>9}: {value}" for key, value in self._rows())

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<table class='workbench-model-version'>{body}</table>"


@dataclass(frozen=True)
class PromotionEvent:
    """One stage change in a model's history: who moved which version, when, from and to.

    ``replaced`` is the version that was in production before a promotion to production
    (it was archived by the same change), or the challenger a new challenger archived;
    rollback uses it to go back. ``gate`` is the
    acceptance outcome of a promotion to production or challenger (passed, failed, error, or none when
    no gates are declared) and ``forced`` says the promotion was made with ``force``.
    ``weight`` is the share of traffic given to a version moved to ``challenger`` (A/B
    serving); the newest such event of the current challenger sets its weight.
    """

    version: int
    from_stage: str
    to_stage: str
    at: str
    by: str
    action: str = "promote"
    replaced: int | None = None
    gate: str | None = None
    forced: bool = False
    weight: float | None = None

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PromotionEvent:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


def format_number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["STAGES", "ModelVersion", "PromotionEvent", "format_number", "shorten", "utc_now", "validate_stage"]
