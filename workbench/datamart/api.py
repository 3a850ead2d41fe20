"""The datamart API: named, content-versioned datasets in the configured store.

The store is the datamart store of the settings' storage (``local``: Arrow IPC files under
``<home>/datamarts/``; a ``redis://`` URL: Redis, read through ``<home>/datamart-cache/``;
``memory``: this process only). Every function takes ``store=`` to override it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from workbench import run_context
from workbench.config import load_settings
from workbench.datamart import codec
from workbench.datamart.version import Datasets
from workbench.errors import DatamartError, DatasetNotFoundError
from workbench.names import validate_name
from workbench.storage import arrow_files, open_storage
from workbench.storage.datamart_records import DatasetVersion
from workbench.storage.datamart_store import DatamartStore

# datasets read by this process, in first-read order: what wb.register can attach as lineage
_reads: builtins.list[dict[str, str]] = []


@contextmanager
def _opened(store: str | None) -> Iterator[DatamartStore]:
    with open_storage(load_settings(store=store)) as storage:
        yield storage.datamarts


def put(name: str, data: Any, description: str | None = None, *, store: str | None = None) -> DatasetVersion:
    """Store ``data`` (a DataFrame, an Arrow table, or a mapping of column -> 1-D array) as a
    version of dataset ``name`` and return its metadata.

    The version id is the start of the SHA-256 of the stored bytes: putting the same content
    again returns the existing version, with its first description and creation time.
    """
    validate_name(name, "dataset name")
    if description is not None and not isinstance(description, str):
        raise DatamartError(f"a description must be a string, not {type(description).__name__}")
    table = codec.to_table(data)
    payload = codec.encode(table)
    digest = arrow_files.sha256(payload)
    meta = DatasetVersion(
        name=name,
        version=arrow_files.version_of(digest),
        created=datetime.now(UTC).isoformat(timespec="milliseconds"),
        rows=table.num_rows,
        columns=tuple(table.column_names),
        dtypes=tuple(str(t) for t in table.schema.types),
        size=len(payload),
        sha256=digest,
        description=description,
    )
    with _opened(store) as opened:
        return opened.publish(meta, payload)


def _resolve(opened: DatamartStore, name: str, version: str | None) -> DatasetVersion:
    validate_name(name, "dataset name")
    found = opened.versions(name)
    if not found:
        existing = ", ".join(opened.names()) or "none"
        raise DatasetNotFoundError(f"no dataset named {name!r}; datasets: {existing}", name=name)
    if version is None:
        return found[-1]
    for candidate in found:
        if candidate.version == version:
            return candidate
    known = ", ".join(v.version for v in found)
    raise DatasetNotFoundError(
        f"dataset {name!r} has no version {version!r}; its versions: {known}", name=name, version=version
    )


def get(name: str, version: str | None = None, as_: codec.Output = "pandas", *, store: str | None = None) -> Any:
    """A version of dataset ``name`` (default: the newest) as a pandas DataFrame, an Arrow
    table (``as_="arrow"``) or a dict of column name -> NumPy array (``as_="numpy"``).

    Local files and cached Redis data are memory-mapped, so Arrow and NumPy results of
    fixed-width columns share the page cache instead of copying. Inside a ``workbench run``
    the read is recorded with the run.
    """
    if as_ not in codec.OUTPUTS:
        raise DatamartError(f"unknown output {as_!r}", hint=f"use as_= one of {', '.join(codec.OUTPUTS)}")
    with _opened(store) as opened:
        meta = _resolve(opened, name, version)
        table = opened.read(meta)
    entry = {"name": meta.name, "version": meta.version}
    if entry not in _reads:
        _reads.append(entry)
    run_context.append({"kind": "datamart", **entry})
    return codec.convert(table, as_)


def info(name: str, version: str | None = None, *, store: str | None = None) -> DatasetVersion:
    """The metadata of a version of ``name`` (default: the newest), without reading the data."""
    with _opened(store) as opened:
        return _resolve(opened, name, version)


def list_datasets(*, store: str | None = None) -> Datasets:
    """The newest version of every dataset, by name."""
    with _opened(store) as opened:
        newest = [found[-1] for found in map(opened.versions, opened.names()) if found]
    return Datasets(newest, "datasets")


def versions(name: str, *, store: str | None = None) -> Datasets:
    """Every version of ``name``, oldest first; raises DatasetNotFoundError when there is none."""
    with _opened(store) as opened:
        _resolve(opened, name, None)
        return Datasets(opened.versions(name), f"versions of {name}")


def delete(name: str, version: str | None = None, *, store: str | None = None) -> Datasets:
    """Delete one version of ``name``, or every version when ``version`` is None; return
    what was deleted."""
    validate_name(name, "dataset name")
    with _opened(store) as opened:
        targets = [_resolve(opened, name, version)] if version is not None else opened.versions(name)
        if not targets:
            _resolve(opened, name, None)
        for meta in targets:
            opened.remove(meta)
    return Datasets(targets, f"deleted from {name}")


def datasets_read() -> builtins.list[dict[str, str]]:
    """``{"name", "version"}`` of each dataset version this process read, first read first."""
    return [dict(entry) for entry in _reads]


__all__ = ["datasets_read", "delete", "get", "info", "list_datasets", "put", "versions"]
