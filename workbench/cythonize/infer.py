"""Type inference: argument types from a sample call, local types from their assignments.

Locals are typed by a fixed point over the function's bindings (an int then a float
makes a double; any other mix leaves a Python object). Arrays, whether arguments or made
in the function (``np.zeros``, ``np.full``, ``np.arange``...), become typed memoryviews.
A memoryview is indexed, measured (``shape``, ``size``, ``ndim``, ``dtype``, ``len``) and
looped over in C; anywhere else it is handed to Python as the NumPy array it views
(``np.asarray``), which is the same data with the same dtype and shape. Only uses that
would change meaning keep an array a Python object (an argument rebound or returned, an
``is`` comparison, a list read as an array written to); the report says which.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from workbench.cythonize import idioms
from workbench.cythonize.analysis import Parsed
from workbench.cythonize.arrays import allocation_type, copy_type, shape_dims
from workbench.cythonize.typesys import BOOL, CHAR, FLOAT, INT, OBJECT, STR, CType, Why, arithmetic, array_type, unify
from workbench.cythonize.uses import NATIVE, PYTHON, misused_arrays

OPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
}
# int ** these literal exponents is an int in Python too; written out as multiplications
SMALL_POWERS = (2, 3)


@dataclass
class Inferred:
    """What inference decided for one function."""

    params: dict[str, CType]
    locals: dict[str, CType]
    returns: CType
    left: dict[str, Why] = field(default_factory=dict)  # name -> why it stays a Python object
    calls: dict[str, list[ast.Call]] = field(default_factory=dict)  # helper -> its call sites


@dataclass(frozen=True)
class Binding:
    """One place a name gets a value: its type (None while not known) and where it comes from."""

    target: ast.Name
    type: CType | None
    source: ast.AST  # the expression giving the value (the statement for ``x += ...``)
    statement: ast.stmt | ast.comprehension


@dataclass(frozen=True)
class Loop:
    """How a ``for`` loop compiles: range, array, str, enumerate, zip, or python (left to Python).

    ``iterables`` are range's arguments, or the arrays and strings looped over.
    """

    kind: str
    iterables: tuple[ast.expr, ...] = ()
    start: ast.expr | None = None  # enumerate's start
    literal_step: bool = True  # range: no step, or a literal one (Cython loops in C only then)


def list_allocation(node: ast.BinOp) -> tuple[int | float, ast.expr] | None:
    """``[0] * n`` or ``n * [0.0]``: a list of one repeated number; (the number, the size)."""
    if not isinstance(node.op, ast.Mult):
        return None
    for items, size in ((node.left, node.right), (node.right, node.left)):
        if isinstance(items, ast.List) and len(items.elts) == 1 and isinstance(items.elts[0], ast.Constant):
            value = items.elts[0].value
            if type(value) is float or (type(value) is int and -(2**63) <= value < 2**63):
                assert isinstance(value, int | float)
                return value, size
    return None


def scalar(t: CType) -> CType:
    """Locals holding array items use the widest type of their kind."""
    return INT if t.kind == "int" else t


class Inference:
    """Types of one function's names and expressions (``run`` infers; the rest reads)."""

    def __init__(
        self,
        parsed: Parsed,
        params: Mapping[str, CType],
        helper_returns: Mapping[str, CType],
        left: Mapping[str, Why] | None = None,
        helper_params: Mapping[str, Mapping[str, CType]] | None = None,
    ) -> None:
        self.parsed = parsed
        self.params = dict(params)
        self.helper_returns = helper_returns
        self.helper_params = helper_params or {}
        self.env: dict[str, CType] = {}
        self.left: dict[str, Why] = dict(left or {})
        for name in self.left:
            if name in self.params:
                self.params[name] = OBJECT
        self.assigned = {
            n.id for n in ast.walk(parsed.node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        self.parents = {child: node for node in ast.walk(parsed.node) for child in ast.iter_child_nodes(node)}

    # expressions ------------------------------------------------------------------
    def type_of(self, node: ast.AST) -> CType | None:
        """The expression's type; None while a name it reads is not inferred yet."""
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return BOOL
            if isinstance(value, int):
                return INT if -(2**63) <= value < 2**63 else OBJECT
            if isinstance(value, float):
                return FLOAT
            return STR if isinstance(value, str) else OBJECT
        if isinstance(node, ast.Name):
            if node.id in self.left:
                return OBJECT
            if node.id in self.env:
                return self.env[node.id]
            if node.id in self.parsed.constants:
                return self.type_of(ast.Constant(self.parsed.constants[node.id]))
            return None if node.id in self.assigned else OBJECT
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.type_of(node.operand)
            if operand is None:
                return None
            if isinstance(node.op, ast.Not):
                return BOOL if operand.is_c else OBJECT
            if operand.kind == "bool":
                return INT
            if isinstance(node.op, ast.Invert):
                return INT if operand.kind == "int" else OBJECT
            return operand if operand.is_numeric else OBJECT
        if isinstance(node, ast.BoolOp):
            return self._same([self.type_of(v) for v in node.values])
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            body, orelse = self.type_of(node.body), self.type_of(node.orelse)
            return None if body is None or orelse is None else unify(body, orelse)
        if isinstance(node, ast.Call):
            return self.call_type(node)[0]
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Attribute):
            if idioms.module_constant(self.parsed, node) is not None:
                return FLOAT
            owner = self.view(node.value)
            if owner is not None and node.attr in {"ndim", "size"}:
                return INT
            return None if owner is None and self.type_of(node.value) is None else OBJECT
        return OBJECT

    def _binop(self, node: ast.BinOp) -> CType | None:
        filled = list_allocation(node)
        if filled is not None:
            size = self.type_of(filled[1])
            if size is None:
                return None
            if size.kind != "int":
                return OBJECT
            typed = array_type(np.dtype("float64" if isinstance(filled[0], float) else "int64"), 1)
            assert typed is not None
            return CType(typed.decl, "array", typed.item, 1, typed.dtype, from_list=True)
        left, right = self.type_of(node.left), self.type_of(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Pow) and left.kind in {"int", "bool"} and self.small_power(node):
            return INT
        op = OPS.get(type(node.op))
        return arithmetic(op, left, right) if op else OBJECT

    @staticmethod
    def small_power(node: ast.BinOp) -> bool:
        """``n ** 2`` or ``n ** 3``: an int in Python, written out as multiplications."""
        return isinstance(node.op, ast.Pow) and idioms.constant_int(node.right) in SMALL_POWERS

    def _same(self, types: list[CType | None]) -> CType | None:
        if any(t is None for t in types):
            return None
        first = types[0]
        return first if first is not None and first.is_c and all(t == first for t in types) else OBJECT

    def _compare(self, node: ast.Compare) -> CType | None:
        operands = [node.left, *node.comparators]
        types = [self.type_of(v) for v in operands]
        if any(t is None for t in types):
            return None
        for i, op in enumerate(node.ops):
            left, right, lt, rt = operands[i], operands[i + 1], types[i], types[i + 1]
            assert lt is not None and rt is not None
            if isinstance(op, ast.In | ast.NotIn):
                if not (lt.kind == "char" and isinstance(right, ast.Constant) and isinstance(right.value, str)):
                    return OBJECT
            elif isinstance(op, ast.Is | ast.IsNot):
                return OBJECT
            elif {lt.kind, rt.kind} & {"char", "str"}:
                # a character against a character or a one-character literal
                if not (_one_char(left, lt) and _one_char(right, rt)):
                    return OBJECT
            elif not (lt.is_numeric and rt.is_numeric):
                return OBJECT
        return BOOL

    def call_type(self, node: ast.Call) -> tuple[CType | None, str]:
        """The call's type, and when it is a Python object, why (for the report)."""
        func = node.func
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return OBJECT, "a call with * or ** arguments"
        numpy = idioms.numpy_name(self.parsed, func)
        if numpy in idioms.ALLOCATORS | idioms.LIKE:
            assert numpy is not None
            return allocation_type(self, numpy, node)
        if numpy in {"copy", "asarray", "ascontiguousarray"}:
            assert numpy is not None
            return copy_type(self, numpy, node)
        args = [self.type_of(a) for a in node.args]
        function = idioms.scalar_function(self.parsed, func)
        if function is not None or numpy in idioms.NUMPY_ABS:
            if any(a is None for a in args):
                return None, ""
            arity = function.arity if function else 1
            if node.keywords or len(args) != arity or not all(a is not None and a.is_numeric for a in args):
                return OBJECT, f"{ast.unparse(func)}() of something other than {arity} C number(s)"
            if function is None or (function.result == "int" and all(a.kind != "float" for a in args if a)):
                return (FLOAT if any(a.kind == "float" for a in args if a) else INT), ""
            return {"float": FLOAT, "int": INT, "bool": BOOL}[function.result], ""
        if node.keywords:
            return OBJECT, f"{ast.unparse(func)}() with keyword arguments"
        if isinstance(func, ast.Attribute) and not node.args:
            owner = self.type_of(func.value)
            if owner is None:
                return None, ""
            if owner.kind == "char" and func.attr in idioms.CHAR_PREDICATES:
                return BOOL, ""
            view = self.view(func.value)
            if view is not None and func.attr == "copy":
                return array_type(np.dtype(view.dtype), view.ndim, "C"), ""
            if view is not None and view.item is not None and view.dtype in {"float64", "int64"}:
                # NumPy's reductions of a whole array, read back as a C number (exactly)
                if func.attr in {"sum", "min", "max"}:
                    return scalar(view.item), ""
                if func.attr == "mean":
                    return FLOAT, ""
        if any(a is None for a in args):
            return None, ""
        if isinstance(func, ast.Name):
            if func.id in self.parsed.calls:
                returned = self.helper_returns.get(func.id)
                return returned, f"{func.id}() returns a Python object"
            typed = self._builtin(func.id, [a for a in args if a is not None])
            if typed is not None:
                return typed, f"{func.id}() of {', '.join(a.describe() for a in args if a)}"
        return OBJECT, f"{ast.unparse(func)}() is a Python call"

    @staticmethod
    def _builtin(name: str, args: list[CType]) -> CType | None:
        numeric = bool(args) and all(a.is_numeric for a in args)
        if name == "abs" and len(args) == 1:
            return (INT if args[0].kind == "bool" else args[0]) if numeric else OBJECT
        if name == "len" and len(args) == 1:
            return INT
        if name == "float" and len(args) == 1:
            return FLOAT if numeric else OBJECT
        if name == "int" and len(args) == 1:
            return INT if numeric else OBJECT
        if name == "ord" and len(args) == 1:
            return INT if args[0].kind == "char" else OBJECT
        if name in {"min", "max"} and len(args) >= 2:
            if not numeric:
                return OBJECT
            result: CType | None = None
            for a in args:
                result = unify(result, INT if a.kind == "bool" else a)
            return result
        return None

    def _subscript(self, node: ast.Subscript) -> CType | None:
        value = node.value
        owner = idioms.shape_owner(value)
        if owner is not None:
            view, index = self.view(owner), self.type_of(node.slice)
            if view is None or index is None:
                return None if self.type_of(owner) is None or index is None else OBJECT
            return INT if index.kind == "int" else OBJECT
        container = self.type_of(value)
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index_types = [self.type_of(i) for i in indices]
        if container is None or any(t is None for t in index_types):
            return None
        if not all(t is not None and t.kind == "int" for t in index_types):
            return OBJECT
        if container.kind == "array" and len(indices) <= container.ndim:
            result = container.sub(len(indices))
            return scalar(result) if result.kind != "array" else result
        if container.kind == "str" and len(indices) == 1:
            return CHAR
        return OBJECT

    def view(self, node: ast.AST) -> CType | None:
        """The memoryview type of an expression that is a typed memoryview: a typed array
        name, or one indexed by fewer C integers than it has dimensions."""
        if isinstance(node, ast.Name):
            t = self.type_of(node)
            return t if t is not None and t.kind == "array" else None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            base = self.view(node.value)
            if base is None:
                return None
            indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            typed = all((t := self.type_of(i)) is not None and t.kind == "int" for i in indices)
            if typed and len(indices) < base.ndim:
                return base.sub(len(indices))
        return None

    # statements ---------------------------------------------------------------------
    def run(self) -> Inferred:
        while True:
            self.env = dict(self.params)
            for _ in range(50):
                before = dict(self.env)
                for stmt in ast.walk(self.parsed.node):
                    for binding in self.bindings(stmt):
                        self._assign(binding.target.id, binding.type)
                if before == self.env:
                    break
            bad = misused_arrays(self)
            if not bad:
                break
            for name, why in bad.items():
                self.left[name] = why
                if name in self.params:
                    self.params[name] = OBJECT
        locals_ = {
            name: t for name, t in self.env.items()
            if name not in self.params and name not in self.left and t.kind != "object"
        }
        returns: CType | None = None
        for sub in ast.walk(self.parsed.node):
            if isinstance(sub, ast.Return):
                value = self.type_of(sub.value) if sub.value is not None else OBJECT
                returns = unify(returns, value or OBJECT)
        calls: dict[str, list[ast.Call]] = {}
        for sub in ast.walk(self.parsed.node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in self.parsed.calls:
                calls.setdefault(sub.func.id, []).append(sub)
        return Inferred(self.params, locals_, returns or OBJECT, self.left, calls)

    def _assign(self, name: str, value: CType | None) -> None:
        if name in self.params or name in self.left or value is None:
            return
        self.env[name] = unify(self.env.get(name), scalar(value) if value.kind != "array" else value)

    def bindings(self, stmt: ast.AST) -> list[Binding]:
        """Every name ``stmt`` binds, with the type it gives it."""
        if isinstance(stmt, ast.Assign):
            return [b for target in stmt.targets for b in self._targets(target, stmt.value, stmt)]
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            return self._targets(stmt.target, stmt.value, stmt)
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            value = self._binop(ast.BinOp(ast.Name(stmt.target.id, ast.Load()), stmt.op, stmt.value))
            return [Binding(stmt.target, value, stmt, stmt)]
        if isinstance(stmt, ast.For):
            loop = self.loop(stmt)
            if loop is None:
                return [Binding(n, None, stmt.iter, stmt) for n in _names(stmt.target)]
            items = self.loop_items(loop)
            if isinstance(stmt.target, ast.Name) and len(items) == 1:
                return [Binding(stmt.target, items[0], stmt.iter, stmt)]
            if isinstance(stmt.target, ast.Tuple) and len(items) == len(stmt.target.elts) > 1:
                return [Binding(n, t, stmt.iter, stmt) for n, t in zip(stmt.target.elts, items, strict=True)
                        if isinstance(n, ast.Name)]
            return [Binding(n, OBJECT, stmt.iter, stmt) for n in _names(stmt.target)]
        if isinstance(stmt, ast.comprehension):
            return [Binding(n, OBJECT, stmt.iter, stmt) for n in _names(stmt.target)]
        if isinstance(stmt, ast.withitem) and stmt.optional_vars is not None:
            statement = self.parents.get(stmt)
            assert isinstance(statement, ast.With)
            return [Binding(n, OBJECT, stmt.context_expr, statement) for n in _names(stmt.optional_vars)]
        if isinstance(stmt, ast.NamedExpr):
            return [Binding(stmt.target, OBJECT, stmt, self._statement(stmt))]
        return []

    def _statement(self, node: ast.AST) -> ast.stmt:
        while not isinstance(node, ast.stmt):
            node = self.parents[node]
        return node

    def _targets(self, target: ast.AST, value: ast.expr, stmt: ast.stmt) -> list[Binding]:
        if isinstance(target, ast.Name):
            return [Binding(target, self.type_of(value), value, stmt)]
        if isinstance(target, ast.Subscript | ast.Attribute):
            return []  # an element or attribute of something: binds no name
        if not isinstance(target, ast.Tuple | ast.List):
            return [Binding(n, OBJECT, value, stmt) for n in _names(target)]
        elts = target.elts
        if any(isinstance(e, ast.Starred) for e in elts):
            return [Binding(n, OBJECT, value, stmt) for n in _names(target)]
        if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(elts):
            if not any(isinstance(e, ast.Starred) for e in value.elts):
                return [b for t, v in zip(elts, value.elts, strict=True) for b in self._targets(t, v, stmt)]
        owner = idioms.shape_owner(value) or (
            idioms.shape_owner(value.value) if isinstance(value, ast.Subscript) else None
        )
        if owner is not None:
            if self.type_of(owner) is None:
                return [Binding(n, None, value, stmt) for n in _names(target)]
            dims = shape_dims(self, value)
            if dims is not None and len(dims) == len(elts) and all(isinstance(e, ast.Name) for e in elts):
                return [Binding(e, INT, value, stmt) for e in elts if isinstance(e, ast.Name)]
        return [Binding(n, OBJECT, value, stmt) for n in _names(target)]

    def loop(self, node: ast.For) -> Loop | None:
        """How the loop compiles (None while a type it depends on is not known)."""
        iterable, target = node.iter, node.target
        if idioms.is_call_to(iterable, "range") and isinstance(iterable, ast.Call) and 1 <= len(iterable.args) <= 3:
            bounds = [self.type_of(a) for a in iterable.args]
            if any(b is None for b in bounds):
                return None
            if isinstance(target, ast.Name) and all(b is not None and b.kind == "int" for b in bounds):
                literal = len(iterable.args) < 3 or idioms.constant_int(iterable.args[2]) is not None
                return Loop("range", tuple(iterable.args), literal_step=literal)
            return Loop(PYTHON)
        if isinstance(target, ast.Name):
            kind = self._sequence(iterable)
            return None if kind is None else Loop(kind, (iterable,)) if kind != PYTHON else Loop(PYTHON)
        if not (isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts)):
            return Loop(PYTHON)
        if not isinstance(iterable, ast.Call):
            return Loop(PYTHON)
        count = len(target.elts)
        if idioms.is_call_to(iterable, "enumerate") and count == 2 and 1 <= len(iterable.args) <= 2:
            kind = self._sequence(iterable.args[0])
            start = self.type_of(iterable.args[1]) if len(iterable.args) == 2 else INT
            if kind is None or start is None:
                return None
            if kind != PYTHON and start.kind == "int":
                return Loop("enumerate", (iterable.args[0],), iterable.args[1] if len(iterable.args) == 2 else None)
        if idioms.zip_strictness(iterable) is not None and count == len(iterable.args) >= 2:
            kinds = [self._sequence(a) for a in iterable.args]
            if any(k is None for k in kinds):
                return None
            if PYTHON not in kinds:
                return Loop("zip", tuple(iterable.args))
        return Loop(PYTHON)

    def _sequence(self, node: ast.expr) -> str | None:
        """array (a 1-D memoryview), str, python, or None while unknown."""
        t = self.type_of(node)
        if t is None:
            return None
        view = self.view(node)
        if view is not None and view.ndim == 1:
            return "array"
        return "str" if t.kind == "str" else PYTHON

    def loop_items(self, loop: Loop) -> list[CType]:
        """The types a loop's target gets, one per name of the target."""
        def item(node: ast.expr) -> CType:
            view = self.view(node)
            if view is not None and view.item is not None:
                return scalar(view.item)
            return CHAR

        if loop.kind == "range":
            return [INT]
        if loop.kind in {"array", "str"}:
            return [item(loop.iterables[0])]
        if loop.kind == "enumerate":
            return [INT, item(loop.iterables[0])]
        if loop.kind == "zip":
            return [item(n) for n in loop.iterables]
        return []

def _one_char(node: ast.AST, t: CType) -> bool:
    return t.kind == "char" or (isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) == 1)


def _names(target: ast.AST) -> list[ast.Name]:
    """The names a target binds (not those read in its subscripts: ``a[i], b = ...`` binds b)."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for e in target.elts for n in _names(e)]
    if isinstance(target, ast.Starred):
        return _names(target.value)
    return []


def infer(
    parsed: Parsed,
    params: Mapping[str, CType],
    helper_returns: Mapping[str, CType],
    left: Mapping[str, Why] | None = None,
) -> Inferred:
    """Types of one function's arguments, locals and result; ``left`` names kept as objects."""
    return Inference(parsed, params, helper_returns, left).run()


def typer(
    parsed: Parsed,
    inferred: Inferred,
    helper_returns: Mapping[str, CType],
    helper_params: Mapping[str, Mapping[str, CType]] | None = None,
) -> Inference:
    """An :class:`Inference` holding the final types, for reading (code generation, reports)."""
    inference = Inference(parsed, inferred.params, helper_returns, inferred.left, helper_params)
    inference.env = {**inferred.locals, **inferred.params}
    return inference


def call_argument_types(parsed: Parsed, inferred: Inferred, helper: Parsed) -> dict[str, CType]:
    """Argument types of ``helper`` from the calls ``parsed`` makes to it."""
    inference = typer(parsed, inferred, {})
    names = [a.arg for a in helper.node.args.args]
    result: dict[str, CType] = {}
    for call in inferred.calls.get(helper.name, []):
        bound = dict(zip(names, call.args, strict=False))
        bound.update({k.arg: k.value for k in call.keywords if k.arg})
        for name, expr in bound.items():
            t = inference.type_of(expr) or OBJECT
            if t.kind == "array" and not isinstance(expr, ast.Name):
                t = OBJECT
            result[name] = unify(result.get(name), t)
    return result


__all__ = [
    "NATIVE",
    "OPS",
    "PYTHON",
    "Binding",
    "Inference",
    "Inferred",
    "Loop",
    "call_argument_types",
    "infer",
    "list_allocation",
    "scalar",
    "typer",
]
