"""How lists of model versions show in a notebook or a terminal: the models table and the versions table."""

from __future__ import annotations

import html
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workbench.storage.model_records import ModelVersion, format_number


@dataclass(frozen=True)
class ModelSummary:
    """One line of the models list: a name, its newest version and its production version."""

    name: str
    versions: int
    latest: ModelVersion
    production: ModelVersion | None


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
    return ", ".join(f"{k}={format_number(v)}" for k, v in sorted(shown.items())) or "-"


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


__all__ = ["ModelSummary", "ModelTable", "VersionTable"]
