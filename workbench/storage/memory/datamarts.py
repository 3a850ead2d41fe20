"""The datamart store of the memory backend: each version's Arrow IPC bytes in a dict, read
back zero-copy from the bytes after the same SHA-256 check as the persistent stores."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from workbench.errors import DatamartError, DatasetNotFoundError
from workbench.storage import arrow_files
from workbench.storage.datamart_records import DatasetVersion
from workbench.storage.datamart_store import DatamartStore, sorted_versions

if TYPE_CHECKING:
    import pyarrow as pa


class MemoryDatamartStore(DatamartStore):
    """Datasets of this process, guarded by one lock; gone when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, dict[str, tuple[str, bytes]]] = {}

    def publish(self, meta: DatasetVersion, data: bytes) -> DatasetVersion:
        with self._lock:
            versions = self._versions.setdefault(meta.name, {})
            if meta.version not in versions:
                versions[meta.version] = (meta.to_json(), bytes(data))
            return DatasetVersion.from_json(versions[meta.version][0])

    def names(self) -> list[str]:
        with self._lock:
            return sorted(name for name, versions in self._versions.items() if versions)

    def versions(self, name: str) -> list[DatasetVersion]:
        with self._lock:
            found = [DatasetVersion.from_json(text) for text, _ in self._versions.get(name, {}).values()]
        return sorted_versions(found)

    def read(self, meta: DatasetVersion) -> pa.Table:
        with self._lock:
            stored = self._versions.get(meta.name, {}).get(meta.version)
        if stored is None:
            raise DatasetNotFoundError(
                f"dataset {meta.ref} was deleted while being read", name=meta.name, version=meta.version
            )
        data = stored[1]
        if arrow_files.sha256(data) != meta.sha256:
            raise DatamartError(f"the bytes of dataset {meta.ref} do not match their SHA-256", hint="put it again")
        pa = arrow_files.arrow()
        return pa.ipc.open_file(pa.py_buffer(data)).read_all()

    def remove(self, meta: DatasetVersion) -> None:
        with self._lock:
            versions = self._versions.get(meta.name, {})
            versions.pop(meta.version, None)
            if not versions:
                self._versions.pop(meta.name, None)


__all__ = ["MemoryDatamartStore"]
