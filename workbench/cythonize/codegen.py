"""``.pyx`` generation: the function's own code with typed arguments and ``cdef`` locals.

The body is the function's syntax tree, unparsed, with a few rewrites that keep its
meaning: ``for x in arr`` over a 1-D memoryview becomes an index loop, a returned local
array is returned as a NumPy array again, a list read as an array is converted once at
the boundary, calls to math functions on C numbers go to libc through small wrappers
that raise the same errors as :mod:`math`, and calls to helpers compiled alongside go to
their typed versions.

One module holds each function in several *variants* (directive sets) so a single
compile lets the equivalence check pick the fastest one that gives the same answers.
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workbench.cythonize.analysis import Parsed
from workbench.cythonize.infer import Inferred, Typer, list_allocation
from workbench.cythonize.typesys import CType

# variant -> (boundscheck, wraparound, cdivision, overflowcheck); with overflowcheck a C
# integer that would overflow raises OverflowError (Python's int would grow instead)
VARIANTS: dict[str, tuple[bool, bool, bool, bool]] = {
    "safe": (True, True, False, True),
    "checked": (True, False, False, True),
    "fast": (False, False, True, False),
    "fast_pydiv": (False, False, False, False),
}

# math function -> (condition under which Python raises, exception) for the libc wrapper
_MATH_ERRORS: dict[str, tuple[str, str] | None] = {
    "sqrt": ("x < 0", "ValueError('math domain error')"),
    "log": ("x <= 0", "ValueError('math domain error')"),
    "log10": ("x <= 0", "ValueError('math domain error')"),
    "log2": ("x <= 0", "ValueError('math domain error')"),
    "exp": ("r == INFINITY and x == x and x != INFINITY", "OverflowError('math range error')"),
    "sin": ("x == INFINITY or x == -INFINITY", "ValueError('math domain error')"),
    "cos": ("x == INFINITY or x == -INFINITY", "ValueError('math domain error')"),
    "tan": ("x == INFINITY or x == -INFINITY", "ValueError('math domain error')"),
    "atan": None,
    "tanh": None,
    "fabs": None,
    "atan2": None,
    "hypot": None,
}
_TWO_ARGS = {"atan2", "hypot"}
_INT_TYPES = ("int64_t", "int32_t", "int16_t", "int8_t", "uint64_t", "uint32_t", "uint16_t", "uint8_t")


@dataclass
class Typed:
    """A parsed function with its inference result, ready to emit."""

    parsed: Parsed
    inferred: Inferred
    helper: bool = False


@dataclass
class Module:
    """Generated module text; ``spans`` maps (function, variant) to its first and last line."""

    source: str
    spans: dict[tuple[str, str], tuple[int, int]]


class _Rewriter(ast.NodeTransformer):
    def __init__(self, typed: Typed, typer: Typer, suffix: str, helpers: Sequence[str], support: set[str]) -> None:
        self.typed = typed
        self.typer = typer
        self.suffix = suffix
        self.helpers = set(helpers)
        self.support = support
        self.counters = 0
        self.renames = {
            name: f"_wb_{name}" for name, t in typed.inferred.params.items() if t.kind == "array" and t.from_list
        }

    def _array(self, name: str) -> CType | None:
        inferred = self.typed.inferred
        t = inferred.params.get(name) or inferred.locals.get(name)
        return t if t is not None and t.kind == "array" else None

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.renames:
            return ast.copy_location(ast.Name(self.renames[node.id], node.ctx), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        function = self.typer.math_function(node.func)
        args_typed = node.args and all(self.typer.type_of(a).is_numeric for a in node.args)
        if function and args_typed and not node.keywords and len(node.args) == (2 if function in _TWO_ARGS else 1):
            self.support.add(function)
            node = ast.Call(ast.Name(f"_wb_{function}", ast.Load()), node.args, [])
        elif (
            isinstance(node.func, ast.Name) and node.func.id == "int" and len(node.args) == 1 and not node.keywords
            and self.typer.type_of(node.args[0]).kind == "float"
        ):
            self.support.add("int")
            node = ast.Call(ast.Name("_wb_int", ast.Load()), node.args, [])
        elif isinstance(node.func, ast.Name) and node.func.id in self.helpers:
            node.func = ast.Name(node.func.id + self.suffix, ast.Load())
        self.generic_visit(node)
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        """``xs = [0] * n`` into a typed array local: ``numpy.full`` of the same values."""
        target = node.targets[0] if len(node.targets) == 1 else None
        filled = list_allocation(node.value) if isinstance(node.value, ast.BinOp) else None
        if isinstance(target, ast.Name) and filled is not None:
            t = self.typed.inferred.locals.get(target.id)
            if t is not None and t.kind == "array" and t.from_list:
                value, size = filled
                numpy = ast.Name("_wb_np", ast.Load())
                node.value = ast.Call(
                    ast.Attribute(numpy, "full", ast.Load()),
                    [size, ast.Constant(value)],
                    [ast.keyword("dtype", ast.Attribute(copy.copy(numpy), t.dtype, ast.Load()))],
                )
                ast.fix_missing_locations(node)
        self.generic_visit(node)
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id in self.typed.inferred.locals:
            if self._array(node.value.id) is not None:
                node.value = ast.Call(
                    ast.Attribute(ast.Name("_wb_np", ast.Load()), "asarray", ast.Load()), [node.value], []
                )
        self.generic_visit(node)
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        if isinstance(node.iter, ast.Name) and (t := self._array(node.iter.id)) is not None and t.ndim == 1:
            counter = f"_wb_i{self.counters}"
            self.counters += 1
            array = ast.Name(node.iter.id, ast.Load())
            shape = ast.Subscript(ast.Attribute(array, "shape", ast.Load()), ast.Constant(0), ast.Load())
            item = ast.Assign([node.target], ast.Subscript(copy.copy(array), ast.Name(counter, ast.Load()), ast.Load()))
            node = ast.For(
                ast.Name(counter, ast.Store()),
                ast.Call(ast.Name("range", ast.Load()), [shape], []),
                [item, *node.body],
                node.orelse,
            )
            ast.fix_missing_locations(node)
        self.generic_visit(node)
        return node


def _signature(typed: Typed) -> str:
    node = typed.parsed.node
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts: list[str] = []

    def one(arg: ast.arg, default: ast.expr | None) -> str:
        t = typed.inferred.params.get(arg.arg)
        text = arg.arg
        if t is not None and t.kind != "object" and not t.from_list:
            text = f"{t.decl} {arg.arg}"
            if t.kind in {"array", "str"} and not typed.helper:
                text += " not None"
        return text if default is None else f"{text}={ast.unparse(default)}"

    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        parts.append(one(arg, default))
        if args.posonlyargs and i == len(args.posonlyargs) - 1:
            parts.append("/")
    if args.kwonlyargs:
        parts.append("*")
        for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            parts.append(one(arg, kw_default))
    return ", ".join(parts)


def emit_function(
    typed: Typed, typer: Typer, variant: str, suffix: str, helpers: Sequence[str], support: set[str]
) -> list[str]:
    """Lines of one function in one variant (``suffix`` appended to its name and helper calls)."""
    boundscheck, wraparound, cdivision, overflowcheck = VARIANTS[variant]
    node = copy.deepcopy(typed.parsed.node)
    rewriter = _Rewriter(typed, typer, suffix, helpers, support)
    body = [rewriter.visit(stmt) for stmt in node.body]
    lines = [
        f"@cython.boundscheck({boundscheck})",
        f"@cython.wraparound({wraparound})",
        f"@cython.cdivision({cdivision})",
        f"@cython.overflowcheck({overflowcheck})",
    ]
    name = typed.parsed.name + suffix
    returns = typed.inferred.returns
    if typed.helper:
        lines.append(f"cpdef {returns.decl + ' ' if returns.is_c else ''}{name}({_signature(typed)}):")
    else:
        lines.append(f"def {name}({_signature(typed)}):")
    docstring = body[:1] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else []
    lines += ["    " + line for stmt in docstring for line in ast.unparse(stmt).splitlines()]
    for local, t in sorted(typed.inferred.locals.items()):
        lines.append(f"    cdef {t.decl} {local}")
    for i in range(rewriter.counters):
        lines.append(f"    cdef Py_ssize_t _wb_i{i}")
    for param, renamed in rewriter.renames.items():
        t = typed.inferred.params[param]
        lines.append(f"    cdef {t.decl} {renamed} = _wb_list_array({param}, {t.dtype!r})")
        support.add("list")
    for stmt in body[len(docstring):] or [ast.Pass()]:
        lines += ["    " + line for line in ast.unparse(stmt).splitlines()]
    return lines


# int() of a C double: C truncation where Python's result fits, Python's errors for NaN and
# infinity; a finite value beyond 64 bits raises OverflowError (Python would return a big int)
_INT_WRAPPER = [
    "cdef inline Py_ssize_t _wb_int(double x) except? -1:",
    "    if x != x:",
    "        raise ValueError('cannot convert float NaN to integer')",
    "    if not (-9.223372036854775e18 <= x < 9.223372036854775e18):",
    "        raise OverflowError('cannot convert float to a 64-bit integer')",
    "    return <Py_ssize_t>x",
]


# a list argument read as an array: only when NumPy reads it as numbers of the sample's
# dtype (never strings parsed as numbers), so other lists raise TypeError as Python would
_LIST_WRAPPER = [
    "cdef _wb_list_array(object values, str dtype):",
    "    array = _wb_np.asarray(values)",
    "    if array.size == 0:",
    "        return _wb_np.zeros(0, dtype=dtype)",
    "    if array.dtype != dtype or array.ndim != 1:",
    "        raise TypeError(f'expected a flat list of {dtype} numbers, got {array.dtype} items')",
    "    return array",
]


def _support_code(function: str) -> list[str]:
    if function == "int":
        return _INT_WRAPPER
    if function == "list":
        return _LIST_WRAPPER
    params = "double x, double y" if function in _TWO_ARGS else "double x"
    call = f"_c_{function}(x, y)" if function in _TWO_ARGS else f"_c_{function}(x)"
    error = _MATH_ERRORS[function]
    if error is None:
        return [f"cdef inline double _wb_{function}({params}) noexcept:", f"    return {call}"]
    condition, exception = error
    return [
        f"cdef inline double _wb_{function}({params}) except? -1:",
        f"    cdef double r = {call}",
        f"    if {condition}:",
        f"        raise {exception}",
        "    return r",
    ]


def _constant(name: str, value: object) -> str:
    """A notebook constant frozen into the module (C-typed when it is a number)."""
    if isinstance(value, bool):
        return f"cdef bint {name} = {value!r}"
    if isinstance(value, float):
        return f"cdef double {name} = " + (repr(value) if math.isfinite(value) else f"float({str(value)!r})")
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return f"cdef Py_ssize_t {name} = {value!r}"
    return f"{name} = {value!r}"


def generate(
    functions: Sequence[Typed], variants: Mapping[str, str], helper_returns: Mapping[str, CType], title: str
) -> Module:
    """The module: header, math wrappers, every function in every variant (variant -> name suffix)."""
    compiled = [t.parsed.name for t in functions]  # calls between them go to the same variant
    support: set[str] = set()
    blocks: list[tuple[tuple[str, str], list[str]]] = []
    # helpers first: a cpdef function must be declared before the functions calling it
    for typed in sorted(functions, key=lambda t: not t.helper):
        typer = Typer(typed.parsed, typed.inferred, helper_returns)
        for variant, suffix in variants.items():
            lines = emit_function(typed, typer, variant, suffix, compiled, support)
            blocks.append(((typed.parsed.name, variant), lines))
    header = [
        "# cython: language_level=3",
        f"# Generated by workbench %cythonize from {title}: edit the Python function, not this file.",
        "cimport cython",
    ]
    body_text = "\n".join(line for _, lines in blocks for line in lines)
    ints = [t for t in _INT_TYPES if t in body_text]
    if ints:
        header.append(f"from libc.stdint cimport {', '.join(ints)}")
    libc = sorted(support - {"int", "list"})
    if libc:
        header.append("from libc.math cimport INFINITY")
        header += [f"from libc.math cimport {f} as _c_{f}" for f in libc]
    header.append("import numpy as _wb_np")
    imports: list[str] = []
    constants: dict[str, object] = {}
    for typed in functions:
        imports += [i for i in typed.parsed.imports if i not in imports]
        constants.update(typed.parsed.constants)
    header += imports
    header += [_constant(name, value) for name, value in sorted(constants.items())]
    for function in sorted(support):
        header += ["", "", *_support_code(function)]
    lines = list(header)
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    for key, block in blocks:
        lines += ["", ""]
        spans[key] = (len(lines) + 1, len(lines) + len(block))
        lines += block
    return Module("\n".join(lines) + "\n", spans)


__all__ = ["VARIANTS", "Module", "Typed", "emit_function", "generate"]
