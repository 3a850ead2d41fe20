"""Datasets as Arrow: tables from user data, their IPC file bytes, and conversions on the way out.

Hashing and memory-mapped, verified reading of the stored bytes live with the stores
(:mod:`workbench.storage.arrow_files`).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from workbench.errors import DatamartError
from workbench.storage.arrow_files import arrow

if TYPE_CHECKING:
    import pyarrow as pa

Output = Literal["pandas", "arrow", "numpy"]
OUTPUTS: tuple[str, ...] = ("pandas", "arrow", "numpy")
_INPUT_HINT = "put a pandas DataFrame, an Arrow table or a mapping of column name -> 1-D array"


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
                return _without_library_versions(pa.Table.from_pandas(data))
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


def _without_library_versions(table: pa.Table) -> pa.Table:
    """``table`` without the pandas and pyarrow versions pyarrow writes into its pandas metadata.

    A version id is the hash of the stored bytes: with the library versions in them, the
    same frame put after a pandas upgrade would become a new version of the same data.
    """
    metadata = dict(table.schema.metadata or {})
    if b"pandas" not in metadata:
        return table
    described = json.loads(metadata[b"pandas"])
    described.pop("pandas_version", None)
    described.get("creator", {}).pop("version", None)
    metadata[b"pandas"] = json.dumps(described, sort_keys=True).encode()
    return table.replace_schema_metadata(metadata)


def encode(table: pa.Table) -> bytes:
    """The IPC file bytes of ``table``, uncompressed, as one record batch."""
    pa = arrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return bytes(sink.getvalue().to_pybytes())


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


__all__ = ["OUTPUTS", "Output", "convert", "encode", "to_table"]
