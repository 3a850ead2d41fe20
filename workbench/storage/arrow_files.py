"""Arrow IPC files as the stores keep them: hashed, and read back memory-mapped only after
their bytes were checked against their SHA-256.

The stored bytes are an uncompressed Arrow IPC *file* (random access), so a local read is
a memory map: columns point into the page cache instead of being parsed or copied. A
dataset's version id is the start of the SHA-256 of these bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import MissingDependencyError

if TYPE_CHECKING:
    import pyarrow as pa

VERSION_CHARS = 16

# (path, inode, size, mtime_ns) of files whose bytes matched their SHA-256 in this process:
# hashing 160 MB costs ~0.1 s, so a warm read trusts a file it verified and that was not
# rewritten since (a rewrite changes the inode or mtime).
_verified: set[tuple[str, int, int, int]] = set()


def arrow() -> Any:
    """The pyarrow module; a clear error naming the install command when it is missing."""
    try:
        import pyarrow
        import pyarrow.ipc
    except ImportError as exc:
        raise MissingDependencyError(
            "datamarts need pyarrow", hint="pip install 'workbench[parquet]'"
        ) from exc
    return pyarrow


def sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def version_of(digest: str) -> str:
    return digest[:VERSION_CHARS]


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def open_verified(path: Path, digest: str) -> pa.Table | None:
    """The memory-mapped table of ``path``, or None when its bytes do not hash to ``digest``."""
    pa = arrow()
    key = _stat_key(path)
    source = pa.memory_map(os.fspath(path), "r")
    try:
        if key not in _verified:
            if sha256(memoryview(source.read_buffer())) != digest:
                source.close()
                return None
            source.seek(0)
            _verified.add(key)
        return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid:
        source.close()
        return None


def forget(path: Path) -> None:
    """Drop what this process verified about ``path`` (it is being replaced or deleted)."""
    for key in [k for k in _verified if k[0] == str(path)]:
        _verified.discard(key)


__all__ = ["VERSION_CHARS", "arrow", "forget", "open_verified", "sha256", "version_of"]
