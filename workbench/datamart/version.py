"""``Datasets``: a listing of dataset versions, as a table in the notebook and in a terminal."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any

from workbench.formatting import html_table, text_table
from workbench.storage.datamart_records import DatasetVersion

_HEADERS = ["name", "version", "created", "rows", "columns", "size", "description"]


class Datasets(Sequence[DatasetVersion]):
    """A listing of dataset versions, as a table in the notebook and in a terminal."""

    def __init__(self, items: Sequence[DatasetVersion], title: str) -> None:
        self._items = list(items)
        self.title = title

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[DatasetVersion]:
        return iter(self._items)

    def __str__(self) -> str:
        if not self._items:
            return f"{self.title}: none"
        return f"{self.title}\n" + text_table(_HEADERS, [v.row() for v in self._items])

    def __repr__(self) -> str:
        return f"Datasets({[v.ref for v in self._items]!r})"

    def _repr_html_(self) -> str:
        if not self._items:
            return f"<p>{html.escape(self.title)}: none</p>"
        rows = [[html.escape(cell) for cell in v.row()] for v in self._items]
        return html_table(_HEADERS, rows, caption=self.title)


__all__ = ["Datasets"]
