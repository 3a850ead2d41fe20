"""Datasets as Arrow IPC files: encoding, hashing, memory-mapped reading, conversions.

The stored bytes are an uncompressed Arrow IPC *file* (random access), so a local read is
a memory map: columns point into the page cache instead of being parsed or copied. The
version id is derived from the SHA-256 of these bytes, so equal content gives one version.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from workbench.errors import DatamartError, MissingDependencyError

if TYPE_CHECKING:
    import pyarrow as pa

Output = Literal["pandas", "arrow", "numpy"]
OUTPUTS: tuple[str, ...] = ("pandas", "arrow", "numpy")
VERSION_CHARS = 16
_INPUT_HINT = "put a pandas DataFrame, an Arrow table or a mapping of column name -> 1-D array"

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


def to_table(data: Any) -> pa.Table:
    """An Arrow table from a DataFrame, an Arrow table or a mapping of name -> 1-D array."""
    pa = arrow()
    if isinstance(data, pa.Table):
        return data
    pandas = sys.modules.get("pandas")  # a DataFrame means pandas is imported already
    if pandas is not None and isinstance(data, pandas.DataFrame):
        if not all(isinstance(c, str) for c in data.columns):
            raise DatamartError("every column name of the DataFrame must be a string", hint=_INPUT_HINT)
        try:
            with warnings.catch_warnings():
                # pyarrow reads tz-aware columns through Series.values, which pandas 3.1 deprecates;
                # the UTC values it gets are right and the time zone comes from the column's dtype
                warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
                return pa.Table.from_pandas(data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise DatamartError(f"the DataFrame cannot be stored as Arrow: {exc}", hint=_INPUT_HINT) from exc
    if isinstance(data, Mapping):
        if not data or not all(isinstance(k, str) for k in data):
            raise DatamartError("a mapping of arrays needs string column names, at least one", hint=_INPUT_HINT)
        try:
            return pa.table({key: pa.array(value) for key, value in data.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise DatamartError(f"the arrays cannot be stored as Arrow columns: {exc}", hint=_INPUT_HINT) from exc
    raise DatamartError(f"cannot store a {type(data).__name__} as a dataset", hint=_INPUT_HINT)


def encode(table: pa.Table) -> bytes:
    """The IPC file bytes of ``table``, uncompressed, as one record batch."""
    pa = arrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return bytes(sink.getvalue().to_pybytes())


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


def _numpy(column: pa.ChunkedArray) -> Any:
    """A column as a NumPy array: zero-copy for fixed-width columns without nulls, decoded
    values for categoricals (pyarrow fills their nulls with a real category otherwise),
    UTC times for time-zone aware timestamps (NumPy has no time zones)."""
    pa = arrow()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_numpy()


def convert(table: pa.Table, as_: str) -> Any:
    """``table`` as a pandas DataFrame, itself, or a dict of column name -> NumPy array."""
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return table.to_pandas()
    if as_ == "numpy":
        return {name: _numpy(column) for name, column in zip(table.column_names, table.columns, strict=True)}
    raise DatamartError(f"unknown output {as_!r}", hint=f"use as_= one of {', '.join(OUTPUTS)}")


__all__ = ["OUTPUTS", "Output", "convert", "encode", "forget", "open_verified", "sha256", "to_table", "version_of"]
