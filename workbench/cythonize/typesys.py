"""Cython types for values and expressions: what a sample value or an expression becomes.

Only types whose C semantics match Python's on the values seen are used: Python ints
become ``Py_ssize_t`` (64-bit; a larger int fails at the boundary with OverflowError),
floats ``double``, bools ``bint``, NumPy arrays typed memoryviews of their dtype and
number of dimensions, lists of numbers read-only 1-D arrays converted at the boundary.
Anything else stays a Python object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# NumPy dtype -> (Cython item type, kind of its elements)
_DTYPES: dict[str, tuple[str, str]] = {
    "float64": ("double", "float"),
    "float32": ("float", "float"),
    "int64": ("int64_t", "int"),
    "int32": ("int32_t", "int"),
    "int16": ("int16_t", "int"),
    "int8": ("int8_t", "int"),
    "uint64": ("uint64_t", "int"),
    "uint32": ("uint32_t", "int"),
    "uint16": ("uint16_t", "int"),
    "uint8": ("uint8_t", "int"),
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class CType:
    """A Cython type: ``decl`` is how it is declared, ``kind`` what Python sees.

    kind is one of int, float, bool, str, char (one character of a str), array, object.
    Arrays carry their item type, number of dimensions and the declaration's layout;
    ``from_list`` marks a list of numbers converted to an array at the boundary.
    """

    decl: str
    kind: str
    item: CType | None = None
    ndim: int = 0
    dtype: str = ""
    from_list: bool = False

    @property
    def is_c(self) -> bool:
        """A C scalar (arithmetic on it runs without the interpreter)."""
        return self.kind in {"int", "float", "bool", "char"}

    @property
    def is_numeric(self) -> bool:
        return self.kind in {"int", "float", "bool"}

    def generic(self) -> CType:
        """The same array type without a contiguity promise (for slices and rows)."""
        if self.kind != "array" or self.item is None:
            return self
        dims = ", ".join([":"] * self.ndim)
        return CType(f"{self.item.decl}[{dims}]", "array", self.item, self.ndim, self.dtype)

    def sub(self, drop: int) -> CType:
        """The array left after indexing ``drop`` leading dimensions with integers."""
        assert self.item is not None
        if drop >= self.ndim:
            return self.item
        ndim = self.ndim - drop
        dims = [":"] * ndim
        if self.decl.endswith("::1]"):  # C-contiguous rows stay contiguous in their last dimension
            dims[-1] = "::1"
        return CType(f"{self.item.decl}[{', '.join(dims)}]", "array", self.item, ndim, self.dtype)

    def describe(self) -> str:
        """What Python code receives: ``float (C double)``, ``float64 array, 2-D``."""
        if self.kind == "array":
            return f"{self.dtype} array, {self.ndim}-D"
        python = {"int": "int", "float": "float", "bool": "bool", "str": "str", "char": "str of 1 character"}
        if self.kind in python and self.decl != "str":
            return f"{python[self.kind]} (C {self.decl})"
        return python.get(self.kind, "Python object")

    def __str__(self) -> str:
        return self.decl


@dataclass(frozen=True)
class Why:
    """Why a name stays a Python object: the user's ``line``, the reason, the smallest change
    that would type it (``fix``), and the name it follows from (``cause``: fix that one first)."""

    line: int
    reason: str
    fix: str = ""
    cause: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


INT = CType("Py_ssize_t", "int")
FLOAT = CType("double", "float")
BOOL = CType("bint", "bool")
STR = CType("str", "str")
CHAR = CType("Py_UCS4", "char")
OBJECT = CType("object", "object")


def array_type(dtype: np.dtype, ndim: int, layout: str = "C") -> CType | None:
    """A memoryview type for arrays of ``dtype`` and ``ndim``; layout C, F or any ("")."""
    if dtype.name not in _DTYPES or not 1 <= ndim <= 8:
        return None
    decl, kind = _DTYPES[dtype.name]
    dims = [":"] * ndim
    if layout == "C":
        dims[-1] = "::1"
    elif layout == "F":
        dims[0] = "::1"
    return CType(f"{decl}[{', '.join(dims)}]", "array", CType(decl, kind), ndim, dtype.name)


def of_value(value: object) -> tuple[CType, str]:
    """The type a sample value gives its argument, and why (for the report)."""
    if isinstance(value, bool | np.bool_):
        return BOOL, "bool"
    if isinstance(value, int | np.integer):
        if _INT64_MIN <= int(value) <= _INT64_MAX:
            return INT, type(value).__name__
        return OBJECT, "int larger than 64 bits"
    if isinstance(value, float | np.floating):
        return FLOAT, type(value).__name__
    if isinstance(value, str):
        return STR, "str"
    if isinstance(value, np.ma.MaskedArray | np.matrix):
        return OBJECT, f"a {type(value).__name__}: a typed memoryview would drop what it adds to an array"
    if isinstance(value, np.ndarray):
        layout = "C" if value.flags.c_contiguous else "F" if value.flags.f_contiguous else ""
        typed = array_type(value.dtype, value.ndim, layout)
        contiguity = {"C": "C-contiguous", "F": "F-contiguous", "": "strided"}[layout]
        described = f"{value.dtype.name} array, {value.ndim}-D, {contiguity}"
        if typed is None:
            return OBJECT, f"{described}: no typed memoryview for that dtype"
        return typed, described
    if isinstance(value, list) and value:
        if all(type(v) is float for v in value):
            typed = array_type(np.dtype("float64"), 1)
        elif all(type(v) is int and _INT64_MIN <= v <= _INT64_MAX for v in value):
            typed = array_type(np.dtype("int64"), 1)
        else:
            return OBJECT, "list of mixed or non-numeric items"
        assert typed is not None
        kind = "floats" if typed.dtype == "float64" else "ints"
        return (
            CType(typed.decl, "array", typed.item, 1, typed.dtype, from_list=True),
            f"list of {kind}, read as an array",
        )
    return OBJECT, f"{type(value).__module__}.{type(value).__qualname__}"


def unify(a: CType | None, b: CType) -> CType:
    """The one type a variable assigned both ``a`` and ``b`` can have.

    An int then a float (``total = 0`` then ``total += x``) is a double, as Python's
    value becomes a float; any other mix stays a Python object.
    """
    if a is None or a == b:
        return b
    if {a.kind, b.kind} == {"int", "float"}:
        return FLOAT
    if a.kind == "array" and b.kind == "array" and a.item == b.item and a.ndim == b.ndim:
        return a.generic()
    return OBJECT


def arithmetic(op: str, left: CType, right: CType) -> CType:
    """Result type of ``left op right`` on C scalars (object when Python decides it)."""
    if not (left.is_numeric and right.is_numeric):
        return OBJECT
    kinds = {left.kind, right.kind}
    if op == "/":
        return FLOAT
    if op == "**":
        # int ** int is a float for negative exponents in Python: leave it to Python
        return FLOAT if "float" in kinds else OBJECT
    if "float" in kinds:
        return FLOAT
    if op in {"&", "|", "^"} and kinds == {"bool"}:
        return BOOL
    return INT


__all__ = [
    "BOOL", "CHAR", "FLOAT", "INT", "OBJECT", "STR", "CType", "Why", "arithmetic", "array_type", "of_value", "unify",
]
