"""The datamart store's contract: named, content-addressed dataset versions as Arrow IPC bytes.

A version is published data first, then metadata, so a listed version always has its
bytes; putting bytes that already exist is a no-op that returns the first writer's
metadata, which makes concurrent puts of the same content agree on one version. Reads are
checked against the version's SHA-256 (:mod:`workbench.storage.arrow_files`).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from workbench.storage.datamart_records import DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa


class DatamartStore(abc.ABC):
    """The primitives a datamart backend provides; each raises :class:`StorageUnavailableError`
    when the backend cannot be reached."""

    @abc.abstractmethod
    def publish(self, meta: DatasetVersion, data: bytes) -> DatasetVersion:
        """Store ``data`` under ``meta``; return the stored metadata (an earlier put's, if any)."""

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Names having at least one version, sorted."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[DatasetVersion]:
        """Versions of ``name``, oldest first; empty when there is none."""

    @abc.abstractmethod
    def read(self, meta: DatasetVersion) -> pa.Table:
        """The table of a listed version, its bytes checked against ``meta.sha256``."""

    @abc.abstractmethod
    def remove(self, meta: DatasetVersion) -> None:
        """Delete one version (metadata first, so it is never listed without its bytes)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""


def sorted_versions(items: list[DatasetVersion]) -> list[DatasetVersion]:
    """Versions oldest first, as every backend lists them."""
    return sorted(items, key=lambda v: (v.created, v.version))


__all__ = ["DatamartStore", "sorted_versions"]
