"""The datamart store of the embedded backend: ``<home>/datamarts/<name>/<version>.arrow`` and
``<version>.json``, both written atomically; reads are memory maps checked by hash."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import DatamartError, DatasetNotFoundError
from workbench.fsutil import atomic_write_bytes, fsync_dir
from workbench.storage import arrow_files
from workbench.storage.datamart_records import DatasetVersion
from workbench.storage.datamart_store import DatamartStore, sorted_versions
from workbench.storage.local.oserrors import os_errors_as_unavailable

if TYPE_CHECKING:
    import pyarrow as pa


def _publish_once(path: Path, meta: DatasetVersion) -> DatasetVersion:
    """Write ``meta`` to ``path`` unless it exists; the first of concurrent writers wins.

    A hard link of a complete temp file fails when the target exists, unlike a rename, so
    a second writer of the same version keeps the first one's ``created`` time.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(meta.to_json().encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return DatasetVersion.from_json(path.read_bytes())
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return meta


class LocalDatamartStore(DatamartStore):
    """``<root>/<name>/<version>.arrow`` and ``<version>.json``, both written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.what = f"the datamart store in {root}"

    def _paths(self, name: str, version: str) -> tuple[Path, Path]:
        folder = self.root / name
        return folder / f"{version}.arrow", folder / f"{version}.json"

    def publish(self, meta: DatasetVersion, data: bytes) -> DatasetVersion:
        with os_errors_as_unavailable(self.what):
            data_path, meta_path = self._paths(meta.name, meta.version)
            if meta_path.is_file():
                return DatasetVersion.from_json(meta_path.read_bytes())
            arrow_files.forget(data_path)
            atomic_write_bytes(data_path, data)
            return _publish_once(meta_path, meta)

    def names(self) -> list[str]:
        with os_errors_as_unavailable(self.what):
            if not self.root.is_dir():
                return []
            return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(p.glob("*.json")))

    def versions(self, name: str) -> list[DatasetVersion]:
        with os_errors_as_unavailable(self.what):
            folder = self.root / name
            if not folder.is_dir():
                return []
            return sorted_versions(
                [DatasetVersion.from_json(p.read_bytes()).check_place(name, p.stem) for p in folder.glob("*.json")]
            )

    def read(self, meta: DatasetVersion) -> pa.Table:
        with os_errors_as_unavailable(self.what):
            data_path, _ = self._paths(meta.name, meta.version)
            try:
                table = arrow_files.open_verified(data_path, meta.sha256)
            except FileNotFoundError as exc:
                raise DatasetNotFoundError(
                    f"dataset {meta.ref} was deleted while being read", name=meta.name, version=meta.version
                ) from exc
            if table is None:
                raise DatamartError(
                    f"the bytes of dataset {meta.ref} ({data_path.name}) do not match their SHA-256",
                    hint="the file was altered after it was stored; delete the version and put the data again",
                    name=meta.name,
                    version=meta.version,
                )
            return table

    def remove(self, meta: DatasetVersion) -> None:
        with os_errors_as_unavailable(self.what):
            data_path, meta_path = self._paths(meta.name, meta.version)
            meta_path.unlink(missing_ok=True)
            arrow_files.forget(data_path)
            data_path.unlink(missing_ok=True)
            folder = data_path.parent
            if folder.is_dir() and not any(folder.iterdir()):
                with contextlib.suppress(OSError):  # a concurrent put just started writing into it
                    folder.rmdir()


__all__ = ["LocalDatamartStore"]
