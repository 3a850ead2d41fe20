"""How each use of a typed memoryview compiles: in C, handed to Python, or not at all.

A memoryview is indexed with C integers, measured (``shape``, ``size``, ``ndim``,
``dtype``, ``len``), looped over, swapped, aliased and returned in C (NATIVE). Anywhere
else Python receives ``np.asarray(view)``: the same data, dtype, shape and strides, so
``X.sum()``, ``X[i, :]`` or ``np.dot(X, w)`` mean what they meant (PYTHON). A few uses
would change meaning, and keep the array a Python object instead (a :class:`Why`): an
argument rebound or returned (the caller would get another array object), ``X += ...`` on
the whole array, an ``is`` comparison, attributes set, and any Python use of a list read
as an array (a list is not an array).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from workbench.cythonize import idioms
from workbench.cythonize.typesys import OBJECT, CType, Why

if TYPE_CHECKING:
    from workbench.cythonize.infer import Inference

NATIVE, PYTHON = "native", "python"
_OPERATORS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
}


def outermost_view(inference: Inference, node: ast.expr) -> ast.expr:
    """``X[i]`` for the ``X`` in ``X[i][j]``: the largest expression still a memoryview."""
    while True:
        parent = inference.parents.get(node)
        if isinstance(parent, ast.Subscript) and parent.value is node and inference.view(parent) is not None:
            node = parent
        else:
            return node


def misused_arrays(inference: Inference) -> dict[str, Why]:
    """Array names used in a way a memoryview would change; name -> why."""
    bad: dict[str, Why] = {}
    for node in ast.walk(inference.parsed.node):
        if not isinstance(node, ast.Name) or node.id in bad:
            continue
        t = inference.env.get(node.id)
        if t is None or t.kind != "array":
            continue
        use = array_use(inference, outermost_view(inference, node) if isinstance(node.ctx, ast.Load) else node)
        if isinstance(use, Why):
            bad[node.id] = use
    return bad


def array_use(inference: Inference, node: ast.expr) -> str | Why:
    """How a memoryview expression is used: NATIVE (in C), PYTHON (handed to Python as
    the NumPy array it views), or why it must stay a Python object (a :class:`Why`)."""
    parent = inference.parents.get(node)
    name = node.id if isinstance(node, ast.Name) else ""
    loading = not isinstance(node, ast.Name) or isinstance(node.ctx, ast.Load)
    view = inference.view(node) if loading else inference.env.get(name)
    assert view is not None
    is_param = name in inference.params
    line = inference.parsed.line(parent or node)
    if not loading:
        if isinstance(parent, ast.AugAssign):
            return Why(line, f"{name} {_OPERATORS.get(type(parent.op), '?')}= ... updates the whole array",
                       f"update it element by element in a loop ({name}[i] += ...)")
        if is_param:
            return Why(line, f"the argument {name} is assigned a new value", "give the new value its own name")
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
            return Why(line, f"del {name}", f"remove the del {name}")
        return NATIVE
    use = _native_use(inference, node, view, parent)
    if use == NATIVE:
        written = isinstance(parent, ast.Subscript) and not isinstance(parent.ctx, ast.Load)
        if written and view.from_list and is_param:
            return Why(line, f"{name} is written to; a list read as an array would not see the write",
                       f"pass a NumPy array: np.asarray({name})")
        return NATIVE
    if isinstance(use, Why) or not view.from_list:
        return use
    context = ast.unparse(parent) if parent is not None else ast.unparse(node)
    if isinstance(parent, ast.Return) or isinstance(inference.parents.get(parent or node), ast.Return):
        return Why(line, f"{ast.unparse(node)} is returned; the list would come back as an array",
                   "allocate it with np.zeros(n) if an array may be returned")
    fix = f"pass a NumPy array: np.asarray({name})" if is_param else (
        "allocate it with np.zeros(n) if it may be an array")
    return Why(line, f"{ast.unparse(node)}, a list, is used as a Python object in {context}", fix)


def read_only(inference: Inference, name: str) -> bool:
    """Whether the array argument ``name`` is only read, in C: its elements, its shape, loops
    over it. Such an argument is declared ``const``, so read-only arrays (memory maps,
    datamart columns, broadcast views) can be passed to the compiled function."""
    for node in ast.walk(inference.parsed.node):
        if not (isinstance(node, ast.Name) and node.id == name):
            continue
        parent = inference.parents.get(node)
        if not isinstance(node.ctx, ast.Load) or array_use(inference, outermost_view(inference, node)) != NATIVE:
            return False
        if isinstance(parent, ast.Subscript) and parent.value is node:
            if not isinstance(parent.ctx, ast.Load) or inference.view(parent) is not None:
                return False  # written, or a row that could be written through
        elif isinstance(parent, ast.Attribute):
            if parent.attr not in {"shape", "ndim", "size", "dtype"}:
                return False
        elif not _measured_or_looped(parent):
            return False  # aliased, swapped, returned or passed on: it could be written elsewhere
    return True


def _measured_or_looped(parent: ast.AST | None) -> bool:
    """``len(X)``, ``for x in X``, ``enumerate(X)``, ``zip(X, Y)``: uses that only read."""
    if isinstance(parent, ast.For):
        return True
    return isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and (
        idioms.is_call_to(parent, "len") or parent.func.id in {"enumerate", "zip"}
    )


def _native_use(inference: Inference, node: ast.expr, view: CType, parent: ast.AST | None) -> str | Why:
    name = node.id if isinstance(node, ast.Name) else ""
    line = inference.parsed.line(parent or node)
    if isinstance(parent, ast.Subscript) and parent.value is node:
        indices = parent.slice.elts if isinstance(parent.slice, ast.Tuple) else [parent.slice]
        typed = all((t := inference.type_of(i)) is not None and t.kind == "int" for i in indices)
        if not typed or len(indices) > view.ndim:
            return PYTHON
        # a whole row written (X[i] = row, X[i] += 1) is NumPy's assignment: copy or broadcast
        return PYTHON if len(indices) < view.ndim and not isinstance(parent.ctx, ast.Load) else NATIVE
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return _attribute_use(inference, parent, view, name, line)
    if parent is not None and idioms.is_call_to(parent, "len"):
        return NATIVE
    if isinstance(parent, ast.For) and parent.iter is node:
        loop = inference.loop(parent)
        return NATIVE if loop is not None and loop.kind == "array" else PYTHON
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in {"enumerate", "zip"}:
        # the sequences of a loop over enumerate() or zip() are indexed in C
        loop_node = inference.parents.get(parent)
        if isinstance(loop_node, ast.For) and loop_node.iter is parent:
            loop = inference.loop(loop_node)
            if loop is not None and loop.kind in {"enumerate", "zip"} and node in loop.iterables:
                return NATIVE
        return PYTHON
    if isinstance(parent, ast.Tuple) and _swapped(inference, node, parent):
        return NATIVE
    if isinstance(parent, ast.Assign | ast.AnnAssign) and parent.value is node:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if all(isinstance(t, ast.Name) and (inference.env.get(t.id) or OBJECT).kind == "array" for t in targets):
            return NATIVE
        return PYTHON
    if isinstance(parent, ast.Compare) and any(isinstance(op, ast.Is | ast.IsNot) for op in parent.ops):
        return Why(line, f"{ast.unparse(node)} is compared with `is`",
                   "compare values (== or np.array_equal) or keep the function in Python")
    returned = isinstance(parent, ast.Return) or (
        isinstance(parent, ast.Tuple) and isinstance(inference.parents.get(parent), ast.Return)
    )
    if returned and name in inference.params:
        return Why(line, f"the argument {name} is returned; the compiled version would return another "
                   "array object viewing it", f"return a copy ({name}.copy()) or nothing")
    if isinstance(parent, ast.Return) and name and not view.from_list:
        return NATIVE  # returned as the NumPy array again
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in inference.parsed.calls:
        return NATIVE if _helper_takes_view(inference, parent, node) else PYTHON
    return PYTHON


def _attribute_use(inference: Inference, attribute: ast.Attribute, view: CType, name: str, line: int) -> str | Why:
    """``X.shape[0]``, ``X.shape``, ``X.ndim``, ``X.size``, ``X.dtype`` are read in C; the rest
    is NumPy's (``X.sum()``, ``X.T``)."""
    if not isinstance(attribute.ctx, ast.Load):
        return Why(line, f"sets {ast.unparse(attribute)}", "keep the function in Python")
    if view.from_list:
        return PYTHON
    grand = inference.parents.get(attribute)
    if attribute.attr == "shape" and isinstance(grand, ast.Subscript) and grand.value is attribute:
        index = idioms.constant_int(grand.slice)
        if index is not None and -view.ndim <= index < view.ndim:
            return NATIVE
    return NATIVE if name and attribute.attr in {"shape", "ndim", "size", "dtype"} else PYTHON


def _helper_takes_view(inference: Inference, call: ast.Call, node: ast.expr) -> bool:
    """Whether the compiled helper ``call`` calls takes this argument as a memoryview."""
    assert isinstance(call.func, ast.Name)
    params = inference.helper_params.get(call.func.id, {})
    if node in call.args:
        position = call.args.index(node)
        names = list(params)
        param = names[position] if position < len(names) else ""
    else:
        param = next((k.arg or "" for k in call.keywords if k.value is node), "")
    t = params.get(param)
    return isinstance(node, ast.Name) and t is not None and t.kind == "array"


def _swapped(inference: Inference, node: ast.expr, values: ast.Tuple) -> bool:
    """``a, b = b, a``: each array goes to a name of the same type (memoryviews swap alike)."""
    assign = inference.parents.get(values)
    if not (isinstance(assign, ast.Assign) and assign.value is values and len(assign.targets) == 1):
        return False
    targets = assign.targets[0]
    if not isinstance(targets, ast.Tuple) or len(targets.elts) != len(values.elts):
        return False
    target = targets.elts[values.elts.index(node)]
    return isinstance(target, ast.Name) and isinstance(node, ast.Name) and (
        inference.env.get(target.id) == inference.env.get(node.id)
    )


__all__ = ["NATIVE", "PYTHON", "array_use", "misused_arrays", "outermost_view", "read_only"]
