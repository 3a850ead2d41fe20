"""What the registry knows about a model version, and how it shows in a notebook or a log.

A :class:`ModelVersion` is immutable apart from its stage. Its metadata round-trips
through plain JSON (``to_record`` / ``from_record``) so every store keeps the same
fields, and a schema version travels with the store rather than with each row.
"""

from __future__ import annotations

import html
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Mapping
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
        metrics = ", ".join(f"{k}={_number(v)}" for k, v in sorted(self.metrics.items())) or "-"
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
            rows.append(("features", f"{self.n_features}: {_shorten(', '.join(self.feature_names))}"))
        if self.params:
            rows.append(("params", _shorten(", ".join(f"{k}={v}" for k, v in sorted(self.params.items())))))
        if self.tags:
            rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))))
        if self.run_id:
            rows.append(("run", self.run_id))
        if self.datasets:
            refs = (f"{d.get('name')}@{d.get('version')}" if isinstance(d, Mapping) else str(d) for d in self.datasets)
            rows.append(("datasets", _shorten(", ".join(refs))))
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


@dataclass(frozen=True)
class ModelSummary:
    """One line of the models list: a name, its newest version and its production version."""

    name: str
    versions: int
    latest: ModelVersion
    production: ModelVersion | None


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Table(list[Any], metaclass=ABCMeta):
    """A list that renders as a table: subclasses give the columns of one row."""

    columns: tuple[str, ...] = ()

    @abstractmethod
    def row(self, item: Any) -> tuple[str, ...]:
        """The cells of one item, in the order of ``columns``."""

    def __str__(self) -> str:
        rows = [self.columns, *(self.row(item) for item in self)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self.row(item)) + "</tr>" for item in self
        )
        return f"<table class='workbench-models'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metrics_text(version: ModelVersion | None) -> str:
    if version is None:
        return "-"
    shown = {k: v for k, v in version.metrics.items() if k in _HEADLINE} or version.metrics
    return ", ".join(f"{k}={_number(v)}" for k, v in sorted(shown.items())) or "-"


_HEADLINE = {"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"}


class VersionTable(_Table):
    """The versions of one model, newest last; a table in a notebook and a terminal."""

    columns = ("version", "stage", "metrics", "format", "created")

    def __init__(self, versions: Iterable[ModelVersion] = ()) -> None:
        super().__init__(versions)

    def row(self, item: ModelVersion) -> tuple[str, ...]:
        return (str(item.version), item.stage, _metrics_text(item), item.format, item.created_at)


class ModelTable(_Table):
    """Every model name with its newest and its production version."""

    columns = ("name", "versions", "latest", "production", "production metrics", "updated")

    def __init__(self, summaries: Iterable[ModelSummary] = ()) -> None:
        super().__init__(summaries)

    def row(self, item: ModelSummary) -> tuple[str, ...]:
        production = str(item.production.version) if item.production else "-"
        return (
            item.name,
            str(item.versions),
            str(item.latest.version),
            production,
            _metrics_text(item.production),
            item.latest.created_at,
        )


__all__ = [
    "STAGES",
    "ModelSummary",
    "ModelTable",
    "ModelVersion",
    "PromotionEvent",
    "VersionTable",
    "utc_now",
    "validate_stage",
]
