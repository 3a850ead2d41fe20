"""The library calls numeric code is full of, and what each one compiles to.

``math`` functions go to libc through wrappers that raise the errors :mod:`math` raises
(CPython's math module calls the same libc functions, so results are identical). NumPy's
scalar functions go to libc directly: NumPy returns ``nan`` or ``inf`` with a warning
where :mod:`math` raises, and libc does the same (without the warning); ``sqrt``,
``floor``, ``ceil``, ``trunc``, ``rint``, ``fabs`` and ``copysign`` are exact in both,
the others agree to an ulp or two, well inside the equivalence check's tolerance.
NumPy allocations (``np.zeros``, ``np.full``, ``np.arange``...) stay NumPy calls; the
array they make becomes a typed memoryview local.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.cythonize.analysis import Parsed

_DOMAIN = "ValueError('math domain error')"
_RANGE = "OverflowError('math range error')"
_FINITE_X = "x == x and x != INFINITY and x != -INFINITY"


@dataclass(frozen=True)
class ScalarFunction:
    """A math or NumPy function of C numbers and the libc function it becomes.

    ``result`` is float, int (a double converted as Python's ``int()`` would, with its
    errors) or bool; ``error`` is (condition, exception) under which :mod:`math` raises.
    """

    module: str
    name: str
    libc: str
    arity: int = 1
    result: str = "float"
    error: tuple[str, str] | None = None

    @property
    def wrapper(self) -> str:
        """Name of the generated C function the call is rewritten to."""
        return f"_wb_{self.name}" if self.module == "math" else f"_wb_np_{self.name}"


def _math(name: str, arity: int = 1, result: str = "float", error: tuple[str, str] | None = None) -> ScalarFunction:
    return ScalarFunction("math", name, name, arity, result, error)


MATH_FUNCTIONS: dict[str, ScalarFunction] = {
    f.name: f
    for f in [
        _math("sqrt", error=("x < 0", _DOMAIN)),
        _math("exp", error=(f"r == INFINITY and {_FINITE_X}", _RANGE)),
        _math("expm1", error=(f"r == INFINITY and {_FINITE_X}", _RANGE)),
        _math("log", error=("x <= 0", _DOMAIN)),
        _math("log2", error=("x <= 0", _DOMAIN)),
        _math("log10", error=("x <= 0", _DOMAIN)),
        _math("log1p", error=("x <= -1", _DOMAIN)),
        _math("sin", error=("x == INFINITY or x == -INFINITY", _DOMAIN)),
        _math("cos", error=("x == INFINITY or x == -INFINITY", _DOMAIN)),
        _math("tan", error=("x == INFINITY or x == -INFINITY", _DOMAIN)),
        _math("asin", error=("x > 1 or x < -1", _DOMAIN)),
        _math("acos", error=("x > 1 or x < -1", _DOMAIN)),
        _math("atan"),
        _math("atan2", 2),
        _math("sinh", error=(f"(r == INFINITY or r == -INFINITY) and {_FINITE_X}", _RANGE)),
        _math("cosh", error=(f"(r == INFINITY or r == -INFINITY) and {_FINITE_X}", _RANGE)),
        _math("tanh"),
        _math("asinh"),
        _math("acosh", error=("x < 1", _DOMAIN)),
        _math("atanh", error=("x >= 1 or x <= -1", _DOMAIN)),
        _math("erf"),
        _math("erfc"),
        _math("fabs"),
        _math("hypot", 2),
        _math("copysign", 2),
        _math("floor", result="int"),
        _math("ceil", result="int"),
        _math("trunc", result="int"),
        _math("isnan", result="bool"),
        _math("isinf", result="bool"),
        _math("isfinite", result="bool"),
    ]
}

# NumPy name -> (libc name, arity, result)
_NUMPY: dict[str, tuple[str, int, str]] = {
    "sqrt": ("sqrt", 1, "float"),
    "exp": ("exp", 1, "float"),
    "exp2": ("exp2", 1, "float"),
    "expm1": ("expm1", 1, "float"),
    "log": ("log", 1, "float"),
    "log2": ("log2", 1, "float"),
    "log10": ("log10", 1, "float"),
    "log1p": ("log1p", 1, "float"),
    "sin": ("sin", 1, "float"),
    "cos": ("cos", 1, "float"),
    "tan": ("tan", 1, "float"),
    "arcsin": ("asin", 1, "float"),
    "arccos": ("acos", 1, "float"),
    "arctan": ("atan", 1, "float"),
    "arctan2": ("atan2", 2, "float"),
    "sinh": ("sinh", 1, "float"),
    "cosh": ("cosh", 1, "float"),
    "tanh": ("tanh", 1, "float"),
    "arcsinh": ("asinh", 1, "float"),
    "arccosh": ("acosh", 1, "float"),
    "arctanh": ("atanh", 1, "float"),
    "hypot": ("hypot", 2, "float"),
    "floor": ("floor", 1, "float"),
    "ceil": ("ceil", 1, "float"),
    "trunc": ("trunc", 1, "float"),
    "rint": ("rint", 1, "float"),
    "fabs": ("fabs", 1, "float"),
    "copysign": ("copysign", 2, "float"),
    "isnan": ("isnan", 1, "bool"),
    "isinf": ("isinf", 1, "bool"),
    "isfinite": ("isfinite", 1, "bool"),
}
NUMPY_FUNCTIONS: dict[str, ScalarFunction] = {
    name: ScalarFunction("numpy", name, libc, arity, result) for name, (libc, arity, result) in _NUMPY.items()
}
# np.abs on a float is fabs; on an int it is Python's abs (the rewrite picks by type)
NUMPY_ABS = frozenset({"abs", "absolute"})

MATH_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan}
NUMPY_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}

ALLOCATORS = frozenset({"zeros", "empty", "ones", "full", "arange", "linspace"})
LIKE = frozenset({"zeros_like", "empty_like", "ones_like", "full_like"})
DTYPE_BUILTINS = {"float": "float64", "int": "int64"}

# methods of one character that Cython compiles to C calls, with the same answers as str's
CHAR_PREDICATES = frozenset(
    {"isalnum", "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper"}
)


def module_attribute(parsed: Parsed, node: ast.AST) -> tuple[str, str] | None:
    """(``"math"`` or ``"numpy"``, attribute) for ``math.sqrt``, ``np.zeros`` or an imported name."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id in parsed.math_modules:
            return "math", node.attr
        if node.value.id in parsed.numpy_modules:
            return "numpy", node.attr
    if isinstance(node, ast.Name):
        return parsed.imported_names.get(node.id)
    return None


def scalar_function(parsed: Parsed, func: ast.AST) -> ScalarFunction | None:
    """The math or NumPy scalar function a call target names."""
    found = module_attribute(parsed, func)
    if found is None:
        return None
    module, name = found
    table = MATH_FUNCTIONS if module == "math" else NUMPY_FUNCTIONS
    return table.get(name)


def numpy_name(parsed: Parsed, func: ast.AST) -> str | None:
    """``zeros`` for ``np.zeros`` (or ``from numpy import zeros``)."""
    found = module_attribute(parsed, func)
    return found[1] if found is not None and found[0] == "numpy" else None


def module_constant(parsed: Parsed, node: ast.AST) -> float | None:
    """The value of ``math.pi``, ``np.inf`` and the like."""
    found = module_attribute(parsed, node) if isinstance(node, ast.Attribute) else None
    if found is None:
        return None
    module, name = found
    return (MATH_CONSTANTS if module == "math" else NUMPY_CONSTANTS).get(name)


def constant_int(node: ast.AST) -> int | None:
    """The value of an integer literal (``3`` or ``-1``), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = constant_int(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def is_call_to(node: ast.AST, name: str) -> bool:
    """A call of the builtin ``name`` (``range(...)``, ``len(...)``) with positional arguments."""
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name and not node.keywords
        and not any(isinstance(a, ast.Starred) for a in node.args)
    )


def zip_strictness(node: ast.AST) -> bool | None:
    """For ``zip(a, b)`` or ``zip(a, b, strict=...)`` with a literal: whether it is strict;
    None for anything else."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "zip"):
        return None
    if any(isinstance(a, ast.Starred) for a in node.args):
        return None
    if not node.keywords:
        return False
    if len(node.keywords) == 1 and node.keywords[0].arg == "strict":
        value = node.keywords[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            return value.value
    return None


def shape_owner(node: ast.AST) -> ast.expr | None:
    """``X`` for the expression ``X.shape``."""
    if isinstance(node, ast.Attribute) and node.attr == "shape" and isinstance(node.ctx, ast.Load):
        return node.value
    return None


def shape_axes(node: ast.AST, ndim: int) -> list[int] | None:
    """The axes ``X.shape`` or ``X.shape[a:b]`` (constant bounds) list, for an ``ndim``-D ``X``."""
    if shape_owner(node) is not None:
        return list(range(ndim))
    if isinstance(node, ast.Subscript) and shape_owner(node.value) is not None and isinstance(node.slice, ast.Slice):
        bounds = [node.slice.lower, node.slice.upper, node.slice.step]
        values = [None if b is None else constant_int(b) for b in bounds]
        if any(b is not None and v is None for b, v in zip(bounds, values, strict=True)) or values[2] == 0:
            return None
        return list(range(ndim))[slice(*values)]
    return None


__all__ = [
    "ALLOCATORS",
    "CHAR_PREDICATES",
    "DTYPE_BUILTINS",
    "LIKE",
    "MATH_CONSTANTS",
    "MATH_FUNCTIONS",
    "NUMPY_ABS",
    "NUMPY_CONSTANTS",
    "NUMPY_FUNCTIONS",
    "ScalarFunction",
    "constant_int",
    "is_call_to",
    "module_attribute",
    "module_constant",
    "numpy_name",
    "scalar_function",
    "shape_axes",
    "shape_owner",
    "zip_strictness",
]
