"""The record of the datamart store: ``DatasetVersion``, the metadata of one stored version."""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from workbench.errors import DatamartError, InvalidNameError
from workbench.formatting import format_bytes, html_table
from workbench.names import validate_name
from workbench.storage.arrow_files import VERSION_CHARS

# layout version of the metadata; readers refuse a newer one
SCHEMA_VERSION = 1
_ALTERED = "the store was altered by hand; delete the version and put the data again"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DatasetVersion:
    """One stored version of a dataset; ``version`` is the start of ``sha256``."""

    name: str
    version: str
    created: str
    rows: int
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    size: int
    sha256: str
    description: str | None = None
    schema: int = SCHEMA_VERSION

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetVersion:
        data: dict[str, Any] = json.loads(text)
        if int(data.get("schema", 0)) > SCHEMA_VERSION:
            raise DatamartError(
                f"dataset metadata has schema version {data['schema']}; this workbench reads up to {SCHEMA_VERSION}",
                hint="upgrade workbench",
            )
        data["columns"] = tuple(data["columns"])
        data["dtypes"] = tuple(data["dtypes"])
        meta = cls(**data)
        # metadata names files and keys: refuse any that a valid put could not have written
        try:
            validate_name(meta.name, "dataset name")
        except InvalidNameError as exc:
            raise DatamartError(f"dataset metadata holds a malformed name: {exc.message}", hint=_ALTERED) from None
        well_formed = len(meta.version) == VERSION_CHARS and meta.sha256.startswith(meta.version)
        if not (well_formed and _HEX64.fullmatch(meta.sha256)):
            raise DatamartError(f"dataset metadata of {meta.name!r} holds a malformed version or hash", hint=_ALTERED)
        return meta

    def check_place(self, name: str, version: str) -> DatasetVersion:
        """This metadata, when it is stored where ``name`` and ``version`` say; raises otherwise."""
        if (self.name, self.version) != (name, version):
            raise DatamartError(
                f"metadata stored as {name}@{version} describes {self.ref}",
                hint=_ALTERED,
            )
        return self

    def row(self) -> list[str]:
        """The cells of this version in a listing (see ``workbench.datamart.version.Datasets``)."""
        return [self.name, self.version, self.created, str(self.rows), str(len(self.columns)),
                format_bytes(self.size), self.description or ""]

    def __str__(self) -> str:
        columns = ", ".join(f"{c}: {t}" for c, t in zip(self.columns, self.dtypes, strict=True))
        text = f"dataset {self.ref}: {self.rows} rows, {format_bytes(self.size)}, created {self.created}"
        if self.description:
            text += f"\n  {self.description}"
        return f"{text}\n  columns: {columns}"

    def _repr_html_(self) -> str:
        rows = [[html.escape(c), html.escape(t)] for c, t in zip(self.columns, self.dtypes, strict=True)]
        caption = f"{self.ref}: {self.rows} rows, {format_bytes(self.size)}"
        desc = f"<p>{html.escape(self.description)}</p>" if self.description else ""
        return desc + html_table(["column", "type"], rows, caption=caption)


__all__ = ["SCHEMA_VERSION", "DatasetVersion"]
