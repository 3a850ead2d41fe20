"""``.pyx`` generation: the function's own code with typed arguments and ``cdef`` locals.

The body is the function's syntax tree, unparsed, with rewrites that keep its meaning:

- loops over a 1-D array, ``enumerate`` and ``zip`` of arrays or strings become index
  loops, and ``range`` with a step that is not a literal a counted C loop;
- ``X.shape`` (whole, unpacked or sliced), ``X.size``, ``X.ndim`` and ``X.dtype`` of a
  typed array are read from the memoryview or written as constants;
- a memoryview used where Python needs the array (``X.sum()``, ``np.dot(X, w)``, a slice)
  is handed over as ``np.asarray(X)``: the same data, dtype and shape; a returned local
  array is returned as a NumPy array;
- math and NumPy scalar functions go to libc (see :mod:`~workbench.cythonize.idioms`),
  ``n ** 2`` of an int becomes ``n * n``, ``math.pi`` and ``np.inf`` become C constants;
- a list read as an array is converted once at the boundary; calls to helpers compiled
  alongside go to their typed versions.

Every generated line remembers the line of the user's function it comes from
(:attr:`Module.lines`), so reports and compiler errors name the user's lines.

One module holds each function in several *variants* (directive sets) so a single
compile lets the equivalence check pick the fastest one that gives the same answers.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from workbench.cythonize import idioms
from workbench.cythonize.analysis import Parsed
from workbench.cythonize.emit import Emitter
from workbench.cythonize.infer import Inference, Inferred, Loop, list_allocation, typer
from workbench.cythonize.support import libc_names, support_code, support_keys
from workbench.cythonize.typesys import CType
from workbench.cythonize.uses import NATIVE, PYTHON, array_use, outermost_view, read_only

# variant -> (boundscheck, wraparound, cdivision, overflowcheck); with overflowcheck a C
# integer that would overflow raises OverflowError (Python's int would grow instead)
VARIANTS: dict[str, tuple[bool, bool, bool, bool]] = {
    "safe": (True, True, False, True),
    "checked": (True, False, False, True),
    "fast": (False, False, True, False),
    "fast_pydiv": (False, False, False, False),
}
_INT_TYPES = ("int64_t", "int32_t", "int16_t", "int8_t", "uint64_t", "uint32_t", "uint16_t", "uint8_t")
_NUMPY = "_wb_np"


@dataclass
class Typed:
    """A parsed function with its inference result, ready to emit."""

    parsed: Parsed
    inferred: Inferred
    helper: bool = False


@dataclass
class Module:
    """Generated module text.

    ``spans`` maps (function, variant) to its first and last line; ``lines`` maps a line
    of the module to (function, line of the user's source) where it came from one.
    """

    source: str
    spans: dict[tuple[str, str], tuple[int, int]]
    lines: dict[int, tuple[str, int]] = field(default_factory=dict)


@dataclass
class _Plan:
    """Rewrites decided on the untouched tree, keyed by ``id`` of its nodes."""

    wrap: set[int] = field(default_factory=set)  # memoryviews handed to Python as arrays
    shape_index: dict[int, int] = field(default_factory=dict)  # X.shape[-1] -> X.shape[1]
    shape_tuple: dict[int, list[int]] = field(default_factory=dict)  # X.shape -> (X.shape[0], X.shape[1])
    ndim: dict[int, int] = field(default_factory=dict)
    size: dict[int, int] = field(default_factory=dict)
    dtype: dict[int, str] = field(default_factory=dict)
    constants: dict[int, float] = field(default_factory=dict)
    scalar_calls: dict[int, idioms.ScalarFunction | str] = field(default_factory=dict)
    powers: dict[int, int] = field(default_factory=dict)
    loops: dict[int, tuple[Loop, list[CType]]] = field(default_factory=dict)
    returned_arrays: set[int] = field(default_factory=set)
    helper_calls: set[int] = field(default_factory=set)
    list_fills: dict[int, str] = field(default_factory=dict)  # Assign -> dtype of the array it fills
    keep: list[ast.AST] = field(default_factory=list)  # the planned nodes stay alive, so ids stay theirs


def _plan(typed: Typed, inference: Inference, helpers: set[str]) -> _Plan:
    plan = _Plan(keep=list(ast.walk(inference.parsed.node)))
    inferred = typed.inferred
    for node in plan.keep:
        if isinstance(node, ast.expr) and inference.view(node) is not None and (
            not isinstance(node, ast.Name) or isinstance(node.ctx, ast.Load)
        ):
            if outermost_view(inference, node) is node:
                _plan_view(plan, inference, node)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            value = idioms.module_constant(inference.parsed, node)
            if value is not None:
                plan.constants[id(node)] = value
        elif isinstance(node, ast.Call):
            _plan_call(plan, inference, node, helpers)
        elif isinstance(node, ast.BinOp) and inference.small_power(node):
            t = inference.type_of(node)
            if t is not None and t.kind == "int":
                plan.powers[id(node)] = idioms.constant_int(node.right) or 0
        elif isinstance(node, ast.For):
            loop = inference.loop(node)
            if loop is not None and (loop.kind in {"array", "enumerate", "zip"} or not loop.literal_step):
                plan.loops[id(node)] = (loop, [inference.view(n) or inference.type_of(n) or CType("object", "object")
                                               for n in loop.iterables])
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
            t = inferred.locals.get(node.value.id)
            if t is not None and t.kind == "array":
                plan.returned_arrays.add(id(node))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            t = inferred.locals.get(node.targets[0].id)
            if isinstance(node.value, ast.BinOp) and list_allocation(node.value) and t is not None and t.from_list:
                plan.list_fills[id(node)] = t.dtype
    return plan


def _plan_view(plan: _Plan, inference: Inference, node: ast.expr) -> None:
    use = array_use(inference, node)
    if use == PYTHON:
        plan.wrap.add(id(node))
        return
    parent = inference.parents.get(node)
    view = inference.view(node)
    if use != NATIVE or view is None or not isinstance(parent, ast.Attribute):
        return
    if parent.attr == "shape":
        grand = inference.parents.get(parent)
        index = idioms.constant_int(grand.slice) if isinstance(grand, ast.Subscript) else None
        axes = idioms.shape_axes(grand, view.ndim) if isinstance(grand, ast.Subscript) else None
        if isinstance(grand, ast.Subscript) and index is not None and -view.ndim <= index < view.ndim:
            plan.shape_index[id(grand)] = index % view.ndim
        elif isinstance(grand, ast.Subscript) and axes is not None:
            plan.shape_tuple[id(grand)] = axes  # X.shape[:2] -> (X.shape[0], X.shape[1])
        else:
            plan.shape_tuple[id(parent)] = list(range(view.ndim))
    elif parent.attr == "ndim":
        plan.ndim[id(parent)] = view.ndim
    elif parent.attr == "size":
        plan.size[id(parent)] = view.ndim
    elif parent.attr == "dtype":
        plan.dtype[id(parent)] = view.dtype


def _plan_call(plan: _Plan, inference: Inference, node: ast.Call, helpers: set[str]) -> None:
    func = node.func
    if isinstance(func, ast.Name) and func.id in helpers:
        plan.helper_calls.add(id(node))
        return
    t = inference.type_of(node)
    if t is None or not t.is_c or node.keywords:
        return
    args = [inference.type_of(a) for a in node.args]
    if not all(a is not None and a.is_numeric for a in args):
        return
    function = idioms.scalar_function(inference.parsed, func)
    if function is not None:
        integral = function.result == "int" and all(a is not None and a.kind != "float" for a in args)
        plan.scalar_calls[id(node)] = "identity" if integral else function
    elif idioms.numpy_name(inference.parsed, func) in idioms.NUMPY_ABS:
        plan.scalar_calls[id(node)] = "fabs" if t.kind == "float" else "abs"
    elif isinstance(func, ast.Name) and func.id == "int" and args and args[0] is not None and args[0].kind == "float":
        plan.scalar_calls[id(node)] = "int"


class _Rewriter(ast.NodeTransformer):
    """Applies a :class:`_Plan` to a copy of the function's tree."""

    def __init__(self, typed: Typed, plan: _Plan, suffix: str, support: set[str]) -> None:
        self.typed = typed
        self.plan = plan
        self.suffix = suffix
        self.support = support
        self.temps: list[tuple[str, str]] = []  # (declaration, name) of helper variables
        self.renames = {
            name: f"_wb_{name}" for name, t in typed.inferred.params.items() if t.kind == "array" and t.from_list
        }

    def _temp(self, decl: str, stem: str) -> str:
        name = f"_wb_{stem}{len(self.temps)}"
        self.temps.append((decl, name))
        return name

    def visit(self, node: ast.AST) -> ast.AST | list[ast.AST]:
        key = id(node)
        result = super().visit(node)
        if key in self.plan.wrap and isinstance(result, ast.expr):
            return ast.copy_location(_call(f"{_NUMPY}.asarray", [result]), result)
        return result  # type: ignore[no-any-return]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.renames:
            return ast.copy_location(ast.Name(self.renames[node.id], node.ctx), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        key = id(node)
        if key in self.plan.constants:
            return ast.copy_location(_constant(self.plan.constants[key], self.support), node)
        self.generic_visit(node)
        owner = node.value
        if key in self.plan.shape_tuple:
            return ast.copy_location(_shape_tuple(owner, self.plan.shape_tuple[key]), node)
        if key in self.plan.ndim:
            return ast.copy_location(ast.Constant(self.plan.ndim[key]), node)
        if key in self.plan.size:
            product: ast.expr = _shape(owner, 0)
            for i in range(1, self.plan.size[key]):
                product = ast.BinOp(product, ast.Mult(), _shape(owner, i))
            return ast.copy_location(product, node)
        if key in self.plan.dtype:
            return ast.copy_location(_call(f"{_NUMPY}.dtype", [ast.Constant(self.plan.dtype[key])]), node)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        key = id(node)
        self.generic_visit(node)
        if key in self.plan.shape_tuple and isinstance(node.value, ast.Attribute):
            return ast.copy_location(_shape_tuple(node.value.value, self.plan.shape_tuple[key]), node)
        if key in self.plan.shape_index:
            node.slice = ast.Constant(self.plan.shape_index[key])
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        key = id(node)
        self.generic_visit(node)
        if key in self.plan.powers:
            product = node.left
            for _ in range(self.plan.powers[key] - 1):
                product = ast.BinOp(product, ast.Mult(), copy.deepcopy(node.left))
            return ast.copy_location(product, node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        key = id(node)
        self.generic_visit(node)
        action = self.plan.scalar_calls.get(key)
        if isinstance(action, idioms.ScalarFunction):
            self.support.add(f"{action.module}:{action.name}")
            return ast.copy_location(_call(action.wrapper, node.args), node)
        if action == "identity":
            return node.args[0]
        if action in {"fabs", "abs"}:
            if action == "fabs":
                self.support.add("numpy:fabs")
                return ast.copy_location(_call("_wb_np_fabs", node.args), node)
            return ast.copy_location(_call("abs", node.args), node)
        if action == "int":
            self.support.add("int")
            return ast.copy_location(_call("_wb_int", node.args), node)
        if key in self.plan.helper_calls and isinstance(node.func, ast.Name):
            node.func = ast.Name(node.func.id + self.suffix, ast.Load())
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        """``xs = [0] * n`` into a typed array local: ``numpy.full`` of the same values."""
        key = id(node)
        self.generic_visit(node)
        if key in self.plan.list_fills and isinstance(node.value, ast.BinOp):
            filled = list_allocation(node.value)
            assert filled is not None
            value, size = filled
            dtype = ast.Attribute(ast.Name(_NUMPY, ast.Load()), self.plan.list_fills[key], ast.Load())
            node.value = _call(f"{_NUMPY}.full", [size, ast.Constant(value)], [ast.keyword("dtype", dtype)])
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        key = id(node)
        self.generic_visit(node)
        if key in self.plan.returned_arrays and node.value is not None:
            node.value = _call(f"{_NUMPY}.asarray", [node.value])
        return node

    def visit_For(self, node: ast.For) -> ast.AST | list[ast.AST]:
        key = id(node)
        self.generic_visit(node)
        if key not in self.plan.loops:
            return node
        loop, types = self.plan.loops[key]
        if loop.kind == "range":
            return self._counted_range(node)
        pre: list[ast.stmt] = []
        sequences: list[ast.expr] = []
        iterables = node.iter.args if isinstance(node.iter, ast.Call) else [node.iter]
        rebound = {n.id for s in node.body for n in ast.walk(s) if isinstance(n, ast.Name) and
                   isinstance(n.ctx, ast.Store)}
        for expr, t in zip(iterables[: len(types)], types, strict=True):
            if isinstance(expr, ast.Name) and expr.id not in rebound:
                sequences.append(expr)  # read in place: nothing in the loop rebinds it
                continue
            name = self._temp(t.decl, "seq")
            pre.append(ast.Assign([ast.Name(name, ast.Store())], expr))
            sequences.append(ast.Name(name, ast.Load()))
        counter = self._temp("Py_ssize_t", "i")
        index = ast.Name(counter, ast.Load())
        lengths: list[ast.expr] = [_call("len", [s]) for s in sequences]
        if len(lengths) > 1:
            count = self._temp("Py_ssize_t", "n")
            pre.append(ast.Assign([ast.Name(count, ast.Store())], _call("min", lengths)))
            bound: ast.expr = ast.Name(count, ast.Load())
        else:
            bound = lengths[0]
        body: list[ast.stmt] = []
        targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
        if loop.kind == "enumerate":
            first = targets[0]
            position: ast.expr = index
            if isinstance(node.iter, ast.Call) and len(node.iter.args) == 2:
                start = self._temp("Py_ssize_t", "start")
                pre.append(ast.Assign([ast.Name(start, ast.Store())], node.iter.args[1]))
                position = ast.BinOp(index, ast.Add(), ast.Name(start, ast.Load()))
            body.append(ast.Assign([first], position))
            targets = targets[1:]
        for target, sequence in zip(targets, sequences, strict=True):
            body.append(ast.Assign([target], ast.Subscript(sequence, index, ast.Load())))
        orelse = list(node.orelse)
        if loop.kind == "zip" and idioms.zip_strictness(node.iter):
            # zip(..., strict=True) raises once the shortest is exhausted, unless the loop broke
            different = ast.Compare(_call("min", lengths), [ast.NotEq()], [_call("max", lengths)])
            error = _call("ValueError", [ast.Constant("zip() arguments have different lengths")])
            orelse.insert(0, ast.If(different, [ast.Raise(error)], []))
        loop_node = ast.For(ast.Name(counter, ast.Store()), _call("range", [bound]), [*body, *node.body], orelse)
        return [_located(s, node) for s in [*pre, loop_node]]

    def _counted_range(self, node: ast.For) -> list[ast.AST]:
        """``for i in range(a, b, step)`` with a step Cython would iterate in Python: a C loop."""
        assert isinstance(node.iter, ast.Call)
        names = [self._temp("Py_ssize_t", stem) for stem in ("start", "stop", "step")]
        counter = self._temp("Py_ssize_t", "k")
        self.support.add("range")
        pre = ast.Assign(
            [ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())], ast.Tuple(node.iter.args, ast.Load())
        )
        start, stop, step = (ast.Name(n, ast.Load()) for n in names)
        value = ast.BinOp(start, ast.Add(), ast.BinOp(ast.Name(counter, ast.Load()), ast.Mult(), step))
        loop = ast.For(
            ast.Name(counter, ast.Store()),
            _call("range", [_call("_wb_range_len", [copy.copy(start), stop, copy.copy(step)])]),
            [ast.Assign([node.target], value), *node.body],
            node.orelse,
        )
        return [_located(pre, node), _located(loop, node)]


def _located(new: ast.stmt, old: ast.stmt) -> ast.stmt:
    """``new`` (and what it holds without a place of its own) at the user's line of ``old``."""
    return ast.fix_missing_locations(ast.copy_location(new, old))


def _call(name: str, args: Sequence[ast.expr], keywords: Sequence[ast.keyword] = ()) -> ast.Call:
    parts = name.split(".")
    func: ast.expr = ast.Name(parts[0], ast.Load())
    for part in parts[1:]:
        func = ast.Attribute(func, part, ast.Load())
    return ast.Call(func, list(args), list(keywords))


def _shape_tuple(owner: ast.expr, axes: list[int]) -> ast.expr:
    return ast.Tuple([_shape(owner, axis) for axis in axes], ast.Load())


def _shape(owner: ast.expr, axis: int) -> ast.expr:
    shape = ast.Attribute(copy.deepcopy(owner), "shape", ast.Load())
    return ast.Subscript(shape, ast.Constant(axis), ast.Load())


def _constant(value: float, support: set[str]) -> ast.expr:
    """``math.pi`` as a literal, ``np.inf`` as C's INFINITY, ``math.nan`` as NAN."""
    if math.isnan(value):
        support.add("constants")
        return ast.Name("NAN", ast.Load())
    if math.isinf(value):
        support.add("constants")
        name = ast.Name("INFINITY", ast.Load())
        return name if value > 0 else ast.UnaryOp(ast.USub(), name)
    return ast.Constant(value)


def _signature(typed: Typed, inference: Inference) -> str:
    node = typed.parsed.node
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts: list[str] = []

    def one(arg: ast.arg, default: ast.expr | None) -> str:
        t = typed.inferred.params.get(arg.arg)
        text = arg.arg
        if t is not None and t.kind != "object" and not t.from_list:
            const = "const " if t.kind == "array" and read_only(inference, arg.arg) else ""
            text = f"{const}{t.decl} {arg.arg}"
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


def _first_bindings(parsed: Parsed) -> dict[str, int]:
    """The user's line where each local is first assigned (its ``cdef`` maps there)."""
    lines: dict[str, int] = {}
    for node in ast.walk(parsed.node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            line = parsed.line(node)
            lines[node.id] = min(line, lines.get(node.id, line))
    return lines


def emit_function(
    typed: Typed,
    inference: Inference,
    variant: str,
    suffix: str,
    helpers: Sequence[str],
    support: set[str],
) -> list[tuple[str, int]]:
    """Lines of one function in one variant, each with the user's line it comes from."""
    boundscheck, wraparound, cdivision, overflowcheck = VARIANTS[variant]
    parsed = typed.parsed
    node = copy.deepcopy(parsed.node)
    working = typer(dataclasses.replace(parsed, node=node), typed.inferred, inference.helper_returns,
                    inference.helper_params)
    plan = _plan(typed, working, set(helpers))
    rewriter = _Rewriter(typed, plan, suffix, support)
    body: list[ast.stmt] = []
    for stmt in node.body:
        result = rewriter.visit(stmt)
        body += [s for s in (result if isinstance(result, list) else [result]) if isinstance(s, ast.stmt)]
    first = parsed.first_line
    out = Emitter(parsed)
    for line in (
        f"@cython.boundscheck({boundscheck})",
        f"@cython.wraparound({wraparound})",
        f"@cython.cdivision({cdivision})",
        f"@cython.overflowcheck({overflowcheck})",
    ):
        out.add(line, first)
    name = parsed.name + suffix
    returns = typed.inferred.returns
    if typed.helper:
        out.add(f"cpdef {returns.decl + ' ' if returns.is_c else ''}{name}({_signature(typed, inference)}):", first)
    else:
        out.add(f"def {name}({_signature(typed, inference)}):", first)
    docstring = body[:1] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else []
    if docstring:
        out.body(docstring, 1, first)
    bound_at = _first_bindings(parsed)
    for local, t in sorted(typed.inferred.locals.items()):
        out.add(f"    cdef {t.decl} {local}", bound_at.get(local, first))
    for decl, temp in rewriter.temps:
        out.add(f"    cdef {decl} {temp}", first)
    for param, renamed in rewriter.renames.items():
        t = typed.inferred.params[param]
        out.add(f"    cdef {t.decl} {renamed} = _wb_list_array({param}, {t.dtype!r})", first)
        support.add("list")
    out.body(body[len(docstring):], 1, first)
    return out.lines


def _constant_line(name: str, value: object) -> str:
    """A notebook constant frozen into the module (C-typed when it is a number)."""
    if isinstance(value, bool):
        return f"cdef bint {name} = {value!r}"
    if isinstance(value, float):
        return f"cdef double {name} = " + (repr(value) if math.isfinite(value) else f"float({str(value)!r})")
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return f"cdef Py_ssize_t {name} = {value!r}"
    return f"{name} = {value!r}"


def helper_params(functions: Sequence[Typed]) -> dict[str, dict[str, CType]]:
    """Each compiled function's arguments in order, with their types (for calls between them)."""
    return {
        t.parsed.name: {
            a.arg: t.inferred.params.get(a.arg, CType("object", "object"))
            for a in [*t.parsed.node.args.posonlyargs, *t.parsed.node.args.args]
        }
        for t in functions
    }


def generate(
    functions: Sequence[Typed], variants: Mapping[str, str], helper_returns: Mapping[str, CType], title: str
) -> Module:
    """The module: header, support code, every function in every variant (variant -> name suffix)."""
    compiled = [t.parsed.name for t in functions]  # calls between them go to the same variant
    params = helper_params(functions)
    support: set[str] = set()
    blocks: list[tuple[tuple[str, str], list[tuple[str, int]]]] = []
    # helpers first: a cpdef function must be declared before the functions calling it
    for typed in sorted(functions, key=lambda t: not t.helper):
        inference = typer(typed.parsed, typed.inferred, helper_returns, params)
        for variant, suffix in variants.items():
            lines = emit_function(typed, inference, variant, suffix, compiled, support)
            blocks.append(((typed.parsed.name, variant), lines))
    header = [
        "# cython: language_level=3",
        f"# Generated by workbench %cythonize from {title}: edit the Python function, not this file.",
        "cimport cython",
    ]
    body_text = "\n".join(text for _, lines in blocks for text, _ in lines)
    ints = [t for t in _INT_TYPES if t in body_text]
    if ints:
        header.append(f"from libc.stdint cimport {', '.join(ints)}")
    header.append("from libc.math cimport INFINITY, NAN")
    header += [f"from libc.math cimport {name} as _c_{name}" for name in libc_names(support)]
    header.append(f"import numpy as {_NUMPY}")
    imports: list[str] = []
    constants: dict[str, object] = {}
    for typed in functions:
        imports += [i for i in typed.parsed.imports if i not in imports]
        constants.update(typed.parsed.constants)
    header += imports
    header += [_constant_line(name, value) for name, value in sorted(constants.items())]
    for key in support_keys(support - {"constants"}):
        header += ["", "", *support_code(key)]
    text_lines = list(header)
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    origin: dict[int, tuple[str, int]] = {}
    for block_key, block in blocks:
        text_lines += ["", ""]
        spans[block_key] = (len(text_lines) + 1, len(text_lines) + len(block))
        for text, user_line in block:
            text_lines.append(text)
            origin[len(text_lines)] = (block_key[0], user_line)
    return Module("\n".join(text_lines) + "\n", spans, origin)


__all__ = ["VARIANTS", "Module", "Typed", "emit_function", "generate", "helper_params"]
