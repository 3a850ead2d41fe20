"""Type inference: argument types from a sample call, local types from their assignments.

Locals are typed by a fixed point over the function's assignments (an int then a float
makes a double; any other mix leaves a Python object). An argument or local holding an
array becomes a typed memoryview only when every use of it is one a memoryview supports
with the same meaning (indexing with integers, ``.shape[k]``, ``len``, a ``for`` loop
over a 1-D array, returning a local array); otherwise it stays a Python object and the
report says which use kept it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from workbench.cythonize.analysis import MATH_FUNCTIONS, Parsed
from workbench.cythonize.typesys import (
    BOOL,
    CHAR,
    FLOAT,
    INT,
    OBJECT,
    STR,
    CType,
    arithmetic,
    array_type,
    unify,
)

_OPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
}
_ALLOCATORS = {"zeros", "empty", "ones"}
_LIKE = {"zeros_like", "empty_like", "ones_like"}
_DTYPE_NAMES = {"float": "float64", "int": "int64"}
_MATH_CONSTANTS = {"pi", "e", "tau", "inf", "nan"}


@dataclass
class Inferred:
    """What inference decided for one function."""

    params: dict[str, CType]
    locals: dict[str, CType]
    returns: CType
    left: dict[str, str] = field(default_factory=dict)  # name -> why it stays a Python object
    calls: dict[str, list[ast.Call]] = field(default_factory=dict)  # helper -> its call sites


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


def _scalar(t: CType) -> CType:
    """Locals holding array items use the widest type of their kind."""
    if t.kind == "int":
        return INT
    return t


class _Inference:
    def __init__(
        self,
        parsed: Parsed,
        params: Mapping[str, CType],
        helper_returns: Mapping[str, CType],
        left: Mapping[str, str] | None = None,
    ) -> None:
        self.parsed = parsed
        self.params = dict(params)
        self.helper_returns = helper_returns
        self.env: dict[str, CType] = {}
        self.left: dict[str, str] = dict(left or {})
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
            if node.id in self.env:
                return self.env[node.id]
            if node.id in self.parsed.constants:
                value = self.parsed.constants[node.id]
                return self.type_of(ast.Constant(value))
            return None if self._is_local(node.id) else OBJECT
        if isinstance(node, ast.BinOp):
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
            op = _OPS.get(type(node.op))
            return arithmetic(op, left, right) if op else OBJECT
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
            types = [self.type_of(v) for v in [node.left, *node.comparators]]
            if any(t is None for t in types):
                return None
            if all(t is not None and (t.is_numeric or t.kind == "char") for t in types):
                return BOOL
            return OBJECT
        if isinstance(node, ast.IfExp):
            body, orelse = self.type_of(node.body), self.type_of(node.orelse)
            return None if body is None or orelse is None else unify(body, orelse)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in self.parsed.math_modules:
                return FLOAT if node.attr in _MATH_CONSTANTS else OBJECT
            owner = self.type_of(node.value)
            if owner is not None and owner.kind == "array" and node.attr in {"ndim", "size"}:
                return INT
            return OBJECT
        return OBJECT

    def _same(self, types: list[CType | None]) -> CType | None:
        if any(t is None for t in types):
            return None
        first = types[0]
        return first if first is not None and first.is_c and all(t == first for t in types) else OBJECT

    def _is_local(self, name: str) -> bool:
        return name in self.assigned

    def _call(self, node: ast.Call) -> CType | None:
        args = [self.type_of(a) for a in node.args]
        func = node.func
        if node.keywords and not self._numpy_func(func):
            return OBJECT
        if self.math_function(func) and args and all(a is not None and a.is_numeric for a in args):
            return FLOAT
        if any(a is None for a in args):
            return None
        if isinstance(func, ast.Name):
            if func.id in self.parsed.calls:
                return self.helper_returns.get(func.id)
            if func.id == "abs" and len(args) == 1 and args[0] is not None and args[0].is_numeric:
                return INT if args[0].kind == "bool" else args[0]
            if func.id == "len" and len(args) == 1:
                return INT
            if func.id == "float" and len(args) == 1 and args[0] is not None and args[0].is_numeric:
                return FLOAT
            if func.id == "int" and len(args) == 1 and args[0] is not None and args[0].is_numeric:
                return INT
            if func.id in {"min", "max"} and len(args) >= 2:
                result: CType | None = None
                for a in args:
                    assert a is not None
                    if not a.is_numeric:
                        return OBJECT
                    result = unify(result, INT if a.kind == "bool" else a)
                return result
        allocator = self._numpy_func(func)
        if allocator:
            return self._allocation(allocator, node)
        return OBJECT

    def math_function(self, func: ast.AST) -> str | None:
        """The math function a call target names (``math.sqrt`` or an imported ``sqrt``)."""
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in self.parsed.math_modules and func.attr in MATH_FUNCTIONS:
                return func.attr
        if isinstance(func, ast.Name) and func.id in self.parsed.math_names:
            return self.parsed.math_names[func.id]
        return None

    def _numpy_func(self, func: ast.AST) -> str | None:
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in self.parsed.numpy_modules and func.attr in _ALLOCATORS | _LIKE:
                return func.attr
        return None

    def _allocation(self, allocator: str, node: ast.Call) -> CType:
        """``np.zeros(n)``, ``np.empty((n, m), dtype=...)``, ``np.zeros_like(X)``: a C-contiguous array."""
        keywords = {k.arg: k.value for k in node.keywords}
        if set(keywords) - {"dtype"} or len(node.args) != 1:
            return OBJECT
        if allocator in _LIKE:
            source = self.type_of(node.args[0])
            if keywords or source is None or source.kind != "array" or source.from_list:
                return OBJECT
            like = array_type(np.dtype(source.dtype), source.ndim, "C" if source.decl.endswith("::1]") else "")
            return like or OBJECT
        shape = node.args[0]
        dims = shape.elts if isinstance(shape, ast.Tuple) else [shape]
        if not all((t := self.type_of(d)) is not None and t.kind == "int" for d in dims):
            return OBJECT
        dtype = self._dtype(keywords.get("dtype"))
        typed = array_type(np.dtype(dtype), len(dims)) if dtype else None
        return typed or OBJECT

    def _dtype(self, node: ast.AST | None) -> str | None:
        if node is None:
            return "float64"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id in _DTYPE_NAMES:
            return _DTYPE_NAMES[node.id]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in self.parsed.numpy_modules:
                return node.attr
        return None

    def _subscript(self, node: ast.Subscript) -> CType | None:
        value = node.value
        if isinstance(value, ast.Attribute) and value.attr == "shape":
            owner = self.type_of(value.value)
            index = self.type_of(node.slice)
            if owner is None or index is None:
                return None
            return INT if owner.kind == "array" and index.kind == "int" else OBJECT
        container = self.type_of(value)
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index_types = [self.type_of(i) for i in indices]
        if container is None or any(t is None for t in index_types):
            return None
        if not all(t is not None and t.kind == "int" for t in index_types):
            return OBJECT
        if container.kind == "array" and len(indices) <= container.ndim:
            result = container.sub(len(indices))
            return _scalar(result) if result.kind != "array" else result
        if container.kind == "str" and len(indices) == 1:
            return CHAR
        return OBJECT

    # statements ---------------------------------------------------------------------
    def run(self) -> Inferred:
        while True:
            self.env = {name: t for name, t in self.params.items()}
            for _ in range(50):
                before = dict(self.env)
                for stmt in ast.walk(self.parsed.node):
                    self._bind(stmt)
                if before == self.env:
                    break
            bad = self._misused_arrays()
            if not bad:
                break
            for name, reason in bad.items():
                self.left[name] = reason
                if name in self.params:
                    self.params[name] = OBJECT
        locals_ = {
            name: t for name, t in self.env.items()
            if name not in self.params and name not in self.left and t.kind != "object"
        }
        for name in self.assigned - set(locals_) - set(self.params) - set(self.left):
            self.left[name] = "assigned a Python object"
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

    def _assign(self, target: ast.AST, value: CType | None) -> None:
        if isinstance(target, ast.Name):
            if target.id in self.params or target.id in self.left:
                return
            if value is None:
                return
            current = self.env.get(target.id)
            self.env[target.id] = unify(current, _scalar(value) if value.kind != "array" else value)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._assign(element, OBJECT)
        elif isinstance(target, ast.Starred):
            self._assign(target.value, OBJECT)

    def _bind(self, stmt: ast.AST) -> None:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                    if len(target.elts) == len(stmt.value.elts):
                        for t, v in zip(target.elts, stmt.value.elts, strict=True):
                            self._assign(t, self.type_of(v))
                        continue
                self._assign(target, self.type_of(stmt.value))
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self._assign(stmt.target, self.type_of(stmt.value))
        elif isinstance(stmt, ast.AugAssign):
            op = _OPS.get(type(stmt.op))
            current, value = self.type_of(stmt.target), self.type_of(stmt.value)
            if current is not None and value is not None:
                self._assign(stmt.target, arithmetic(op, current, value) if op else OBJECT)
        elif isinstance(stmt, ast.For):
            self._assign(stmt.target, self._loop_item(stmt.iter))
        elif isinstance(stmt, ast.comprehension | ast.withitem | ast.NamedExpr):
            bound: ast.expr | None = stmt.optional_vars if isinstance(stmt, ast.withitem) else stmt.target
            if bound is not None:
                self._assign(bound, OBJECT)

    def _loop_item(self, iterable: ast.AST) -> CType | None:
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range":
            if iterable.keywords or not 1 <= len(iterable.args) <= 3:
                return OBJECT
            bounds = [self.type_of(a) for a in iterable.args]
            if any(b is None for b in bounds):
                return None
            return INT if all(b is not None and b.kind == "int" for b in bounds) else OBJECT
        container = self.type_of(iterable)
        if container is None:
            return None
        if container.kind == "array" and container.ndim == 1 and isinstance(iterable, ast.Name):
            assert container.item is not None
            return _scalar(container.item)
        if container.kind == "str":
            return CHAR
        return OBJECT

    # memoryview uses ------------------------------------------------------------------
    def _misused_arrays(self) -> dict[str, str]:
        """Array names used in a way a memoryview would change; name -> reason."""
        bad: dict[str, str] = {}
        for node in ast.walk(self.parsed.node):
            if not isinstance(node, ast.Name):
                continue
            t = self.env.get(node.id)
            if t is None or t.kind != "array" or node.id in bad:
                continue
            reason = self._array_use(node, t)
            if reason:
                bad[node.id] = f"{reason} (line {self.parsed.line(node)})"
        return bad

    def _array_use(self, node: ast.Name, t: CType) -> str | None:
        parent = self.parents.get(node)
        is_param = node.id in self.params
        if isinstance(node.ctx, ast.Store):
            if is_param:
                return "the argument is reassigned"
            return None
        if isinstance(parent, ast.Subscript) and parent.value is node:
            if isinstance(parent.ctx, ast.Store | ast.Del) and t.from_list and is_param:
                return "written to; a list read as an array would not see the write"
            return None if self._subscript(parent) not in (OBJECT,) else f"indexed as {ast.unparse(parent)}"
        if isinstance(parent, ast.Attribute):
            grand = self.parents.get(parent)
            if parent.attr == "shape" and isinstance(grand, ast.Subscript) and grand.value is parent:
                return None
            if parent.attr in {"ndim", "size"} and not t.from_list:
                return None
            return f"used as {ast.unparse(parent)}"
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "len":
            return None
        if isinstance(parent, ast.For) and parent.iter is node and t.ndim == 1:
            return None
        if isinstance(parent, ast.Tuple) and self._swapped(node, parent):
            return None
        if isinstance(parent, ast.Return) and not is_param:
            return "returned; the list would come back as an array" if t.from_list else None
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in self.parsed.calls:
            return None
        context = ast.unparse(parent) if parent is not None else node.id
        return f"used as a Python object in {context}"

    def _swapped(self, node: ast.Name, values: ast.Tuple) -> bool:
        """``a, b = b, a``: each array goes to a name of the same type (memoryviews swap alike)."""
        assign = self.parents.get(values)
        if not (isinstance(assign, ast.Assign) and assign.value is values and len(assign.targets) == 1):
            return False
        targets = assign.targets[0]
        if not isinstance(targets, ast.Tuple) or len(targets.elts) != len(values.elts):
            return False
        target = targets.elts[values.elts.index(node)]
        return isinstance(target, ast.Name) and self.env.get(target.id) == self.env.get(node.id)


def infer(
    parsed: Parsed,
    params: Mapping[str, CType],
    helper_returns: Mapping[str, CType],
    left: Mapping[str, str] | None = None,
) -> Inferred:
    """Types of one function's arguments, locals and result; ``left`` names kept as objects."""
    return _Inference(parsed, params, helper_returns, left).run()


class Typer:
    """Expression types in a function whose inference is done (for code generation)."""

    def __init__(self, parsed: Parsed, inferred: Inferred, helper_returns: Mapping[str, CType]) -> None:
        self._inference = _Inference(parsed, inferred.params, helper_returns)
        self._inference.env = {**inferred.locals, **inferred.params}
        self._inference.left = dict(inferred.left)

    def type_of(self, node: ast.AST) -> CType:
        return self._inference.type_of(node) or OBJECT

    def math_function(self, func: ast.AST) -> str | None:
        return self._inference.math_function(func)


def call_argument_types(parsed: Parsed, inferred: Inferred, helper: Parsed) -> dict[str, CType]:
    """Argument types of ``helper`` from the calls ``parsed`` makes to it."""
    inference = _Inference(parsed, inferred.params, {})
    inference.env = {**inferred.locals, **inferred.params}
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


__all__ = ["Inferred", "Typer", "call_argument_types", "infer", "list_allocation"]
