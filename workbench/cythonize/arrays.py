"""Arrays made in a function: ``np.zeros``, ``np.full``, ``np.arange``, ``np.zeros_like``...

Their type (a C-contiguous memoryview of the dtype the call names, or the argument's
dtype and layout for ``*_like``, ``X.dtype`` and ``X.copy()``) or, when they stay
Python objects, why: the report shows that reason at the user's line.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import numpy as np

from workbench.cythonize import idioms
from workbench.cythonize.typesys import INT, OBJECT, CType, array_type

if TYPE_CHECKING:
    from workbench.cythonize.infer import Inference


def dtype_name(name: str) -> str | None:
    """NumPy's name for a dtype spelled ``name`` (``"float"`` -> ``"float64"``), None if unknown."""
    try:
        return np.dtype(idioms.DTYPE_BUILTINS.get(name, name)).name
    except TypeError:
        return None


def allocation_type(inference: Inference, name: str, node: ast.Call) -> tuple[CType | None, str]:
    """``np.zeros((n, m))``, ``np.full(n, np.inf)``, ``np.zeros_like(X)``, ``np.arange(n)``..."""
    keywords = {k.arg: k.value for k in node.keywords if k.arg}
    args = list(node.args)
    call = f"np.{name}"
    positional = {"full": 3, "full_like": 3, "arange": 3, "linspace": 3}.get(name, 2)
    if set(keywords) - {"dtype"} or len(args) > positional or not args:
        extra = ", ".join(sorted(set(keywords) - {"dtype"})) or "its arguments"
        return OBJECT, f"{call}() with {extra}: only a shape, a dtype (and a fill value) are compiled"
    dtype_node = keywords.get("dtype")
    if name in {"zeros", "empty", "ones", "zeros_like", "empty_like", "ones_like"} and len(args) == 2:
        dtype_node = args.pop()
    if name in {"full", "full_like"} and len(args) == 3:
        dtype_node = args.pop()
    if name in {"arange", "linspace"}:
        types = [inference.type_of(a) for a in args]
        if any(t is None for t in types):
            return None, ""
        if not all(t is not None and t.is_numeric for t in types):
            return OBJECT, f"{call}() of something other than C numbers"
        if name == "linspace" and (len(args) < 2 or (len(args) == 3 and types[2] != INT)):
            return OBJECT, "np.linspace() needs a start, a stop and an int count"
        default = "float64" if name == "linspace" or any(t.kind == "float" for t in types if t) else "int64"
        return _typed(inference, call, dtype_node, default, 1, "C")
    if name in idioms.LIKE:
        source = inference.view(args[0])
        if source is None:
            known = inference.type_of(args[0])
            return (None, "") if known is None else (OBJECT, f"{call}() of a Python object")
        layout = "C" if source.decl.endswith("::1]") else ""
        return _typed(inference, call, dtype_node, source.dtype, source.ndim, layout)
    dims = shape_dims(inference, args[0])
    if dims is None:
        return OBJECT, f"the shape {ast.unparse(args[0])} is not a tuple of sizes"
    types = [inference.type_of(d) if isinstance(d, ast.AST) else INT for d in dims]
    if any(t is None for t in types):
        return None, ""
    bad = next((d for d, t in zip(dims, types, strict=True) if t is not None and t.kind != "int"), None)
    if bad is not None:
        text = ast.unparse(bad) if isinstance(bad, ast.AST) else str(bad)
        return OBJECT, f"the size {text} in the shape is not a C integer"
    default = "float64"
    if name == "full":
        fill = inference.type_of(args[1])
        if fill is None:
            return None, ""
        default = {"int": "int64", "float": "float64"}.get(fill.kind, "")
        if not default and dtype_node is None:
            return OBJECT, f"np.full() with a fill value that is a {fill.describe()}"
    return _typed(inference, call, dtype_node, default, len(dims), "C")

def _typed(
    inference: Inference, call: str, dtype_node: ast.AST | None, default: str, ndim: int, layout: str
) -> tuple[CType | None, str]:
    dtype = default if dtype_node is None else dtype_of(inference, dtype_node)
    if dtype is None:
        return OBJECT, f"{call}() with dtype={ast.unparse(dtype_node) if dtype_node else '?'}, not a known dtype"
    typed = array_type(np.dtype(dtype), ndim, layout)
    if typed is None:
        return OBJECT, f"{call}() makes a {dtype} array, which has no typed memoryview here"
    return typed, ""

def dtype_of(inference: Inference, node: ast.AST) -> str | None:
    """The dtype a ``dtype=`` argument names: ``float``, ``"int32"``, ``np.float32``, ``X.dtype``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return dtype_name(node.value)
    if isinstance(node, ast.Name) and node.id in {"float", "int", "bool", "complex"}:
        return dtype_name(node.id)
    found = idioms.module_attribute(inference.parsed, node)
    if found is not None and found[0] == "numpy":
        return dtype_name(found[1])
    if isinstance(node, ast.Attribute) and node.attr == "dtype":
        view = inference.view(node.value)
        return view.dtype if view is not None else None
    return None

def copy_type(inference: Inference, name: str, node: ast.Call) -> tuple[CType | None, str]:
    """``np.copy(X)``, ``np.asarray(X)``, ``np.ascontiguousarray(X)`` of a typed array."""
    if len(node.args) != 1 or node.keywords:
        return OBJECT, f"np.{name}() with more than the array"
    source = inference.view(node.args[0])
    if source is None:
        return (None, "") if inference.type_of(node.args[0]) is None else (OBJECT, f"np.{name}() of a Python object")
    if name == "asarray" and not source.from_list:
        return source, ""
    layout = "C" if name == "ascontiguousarray" or source.decl.endswith("::1]") else ""
    return array_type(np.dtype(source.dtype), source.ndim, layout), ""

def shape_dims(inference: Inference, node: ast.AST) -> list[ast.expr | int] | None:
    """The sizes a shape argument lists: ``(n, m)``, ``n``, ``X.shape`` (as its axes)."""
    if isinstance(node, ast.Tuple | ast.List):
        return None if any(isinstance(e, ast.Starred) for e in node.elts) else list(node.elts)
    owner = idioms.shape_owner(node)
    if owner is None and isinstance(node, ast.Subscript):
        owner = idioms.shape_owner(node.value)
    if owner is not None:
        view = inference.view(owner) if isinstance(owner, ast.Name) else None
        axes = idioms.shape_axes(node, view.ndim) if view is not None else None
        return list(axes) if axes is not None else None
    return [node] if isinstance(node, ast.expr) else None


__all__ = ["allocation_type", "copy_type", "dtype_name", "dtype_of", "shape_dims"]
