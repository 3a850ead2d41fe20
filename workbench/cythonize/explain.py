"""Why what stays Python stays Python, in the user's terms: their line, the reason, a fix.

For each argument or local left a Python object, :func:`explain_names` finds the binding
that made it one and the smallest part of that expression to blame (``n`` in
``np.zeros((n, p))`` when ``n`` is itself a Python object, which then names ``n`` as the
cause). For each line of the compiled function that still calls into Python,
:func:`line_reason` says what in that line does.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from workbench.cythonize import idioms
from workbench.cythonize.arrays import shape_dims
from workbench.cythonize.infer import OPS, Binding, Inference, Inferred
from workbench.cythonize.typesys import OBJECT, CType, Why, unify
from workbench.cythonize.uses import NATIVE, PYTHON, array_use, outermost_view

_Reason = tuple[str, str, str]  # reason, fix, cause

_ARGUMENT_FIXES = {
    "pandas.core.frame.DataFrame": "pass a NumPy array: df.to_numpy()",
    "pandas.core.series.Series": "pass a NumPy array: s.to_numpy()",
    "list of mixed or non-numeric items": "pass a NumPy array of numbers: np.asarray(values, dtype=float)",
}


def argument_fix(described: str) -> str:
    """The smallest change to a sample argument that would type it."""
    if "bool array" in described:
        return "pass flags as numbers: mask.view(np.uint8) (0 and 1)"
    if "float16" in described or "complex" in described or "object array" in described:
        return "pass float64 or int64 values: x.astype(np.float64)"
    return _ARGUMENT_FIXES.get(described, "")


def explain_names(inference: Inference, inferred: Inferred, described: Mapping[str, str]) -> dict[str, Why]:
    """Every argument and local that stays a Python object, with why and the fix."""
    parsed = inference.parsed
    whys = dict(inferred.left)
    for name, t in inferred.params.items():
        if t.kind == "object" and name not in whys:
            if name not in described:  # a helper's argument: typed from the calls to it
                whys[name] = Why(parsed.first_line, "a call to it passes a Python object (or nothing)")
                continue
            sample = described[name]
            whys[name] = Why(parsed.first_line, f"its sample is {_article(sample)}", argument_fix(sample))
    untyped = inference.assigned - set(inferred.locals) - set(inferred.params) - set(whys)
    for name in sorted(untyped):
        whys[name] = _explain_local(inference, name)
    return whys


def _article(text: str) -> str:
    return text if text.startswith(("a ", "an ", "list", "int larger")) else f"a {text}"


def _explain_local(inference: Inference, name: str) -> Why:
    parsed = inference.parsed
    bindings = [
        b for stmt in ast.walk(parsed.node) for b in inference.bindings(stmt) if b.target.id == name
    ]
    if not bindings:
        return Why(parsed.first_line, f"{name} is bound by something Cython cannot type")
    bad = next((b for b in bindings if b.type is None or b.type.kind == "object"), None)
    if bad is not None:
        reason, fix, cause = _binding_reason(inference, bad)
        return Why(parsed.line(bad.statement), reason, fix, cause)
    first = bindings[0]
    assert first.type is not None
    other = next((b for b in bindings if b.type is not None and unify(first.type, b.type).kind == "object"), None)
    if other is None or other.type is None:
        return Why(parsed.line(first.statement), f"{name} is assigned values of several types",
                   "use a separate name for each type")
    return Why(
        parsed.line(other.statement),
        f"{name} holds a {_kind(first.type)} (line {parsed.line(first.statement)}) and a {_kind(other.type)} here",
        "use a separate name for each, or make both the same type (0.0 rather than 0)",
    )


def _kind(t: CType) -> str:
    return t.describe().split(" (")[0]


def _binding_reason(inference: Inference, binding: Binding) -> _Reason:
    statement, source = binding.statement, binding.source
    if isinstance(statement, ast.For) and source is statement.iter:
        return _loop_reason(inference, statement)
    if isinstance(statement, ast.comprehension):
        return "bound in a comprehension", "write the loop out", ""
    if isinstance(statement, ast.With):
        return f"bound by with {ast.unparse(source)}", "", ""
    if isinstance(source, ast.NamedExpr):
        return "bound by :=", "assign it on a line of its own", ""
    if isinstance(statement, ast.AugAssign) and source is statement:
        current = inference.type_of(statement.target) or OBJECT
        value = inference.type_of(statement.value) or OBJECT
        if value.kind == "object":
            return _expr_reason(inference, statement.value)
        if current.kind == "array":
            return (f"{ast.unparse(statement.target)} {OPS.get(type(statement.op), '?')}= ... updates the whole "
                    "array", f"update it element by element ({ast.unparse(statement.target)}[i] += ...)", "")
        op = OPS.get(type(statement.op), "?")
        fix = "multiply it out (n * n) or make the base a float" if op == "**" else ""
        return f"{op}= of a {_kind(current)} and a {_kind(value)}", fix, ""
    target_is_tuple = isinstance(statement, ast.Assign) and any(
        isinstance(t, ast.Tuple | ast.List) and binding.target in ast.walk(t) for t in statement.targets
    )
    if target_is_tuple and isinstance(source, ast.expr):
        owner = idioms.shape_owner(source) or (
            idioms.shape_owner(source.value) if isinstance(source, ast.Subscript) else None
        )
        view = inference.view(owner) if owner is not None else None
        if view is not None:
            return (f"unpacks {ast.unparse(source)} of a {view.ndim}-D array into a different number of names",
                    "unpack as many names as the array has dimensions", "")
        t = inference.type_of(source)
        if t is None or t.kind == "object":
            reason, fix, cause = _expr_reason(inference, source)
            return f"unpacks {ast.unparse(source)}: {reason}", fix or "assign the parts one by one", cause
        return f"unpacks {ast.unparse(source)}, a {_kind(t)}", "assign the parts one by one", ""
    if isinstance(source, ast.expr):
        return _expr_reason(inference, source)
    return "assigned a Python object", "", ""


def _loop_reason(inference: Inference, loop: ast.For) -> _Reason:
    iterable = loop.iter
    if idioms.is_call_to(iterable, "range") and isinstance(iterable, ast.Call):
        for bound in iterable.args:
            t = inference.type_of(bound)
            if t is None or t.kind == "object":
                return _expr_reason(inference, bound)
            if t.kind != "int":
                return f"range() of a {_kind(t)}", f"make it an int: range(int({ast.unparse(bound)}))", ""
        return "loops over range() into more than one name", "", ""
    sequences = iterable.args if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and (
        iterable.func.id in {"enumerate", "zip"}) else [iterable]
    for sequence in sequences:
        view = inference.view(sequence)
        if view is not None and view.ndim > 1:
            text = ast.unparse(sequence)
            return (f"a loop over {text}, a {view.ndim}-D array, gives rows (arrays), not numbers",
                    f"loop over indices: for i in range({text}.shape[0]) and index {text}[i, j]", "")
        t = inference.type_of(sequence)
        nested = isinstance(sequence, ast.Call) and isinstance(sequence.func, ast.Name) and (
            sequence.func.id in {"enumerate", "zip"})
        if (t is None or t.kind == "object") and not nested:
            reason, fix, cause = _expr_reason(inference, sequence)
            return f"loops over {ast.unparse(sequence)}: {reason}", fix, cause
    if isinstance(loop.target, ast.Tuple):
        return (f"unpacks each item of {ast.unparse(iterable)}",
                "loop over indices and index the parts (for i in range(len(a)): x, y = a[i], b[i])", "")
    return f"loops over {ast.unparse(iterable)} in Python", "loop over indices: for i in range(len(...))", ""


def _expr_reason(inference: Inference, node: ast.expr) -> _Reason:
    """Why ``node`` is a Python object: the smallest part of it to blame, and a fix."""
    text = ast.unparse(node)
    t = inference.type_of(node)
    if isinstance(node, ast.Name):
        if node.id in inference.assigned or node.id in inference.params:
            return f"{node.id} is a Python object", "", node.id
        return f"{node.id} is a Python object (a notebook name)", "pass it in as an argument", ""
    if isinstance(node, ast.Constant):
        if node.value is None:
            return ("None is a Python object",
                    "start it with a number of the type it later holds (0, 0.0, -1 or math.inf)", "")
        if isinstance(node.value, int):
            return "an integer beyond 64 bits", "", ""
        return f"{text} is a Python {type(node.value).__name__}", "", ""
    if isinstance(node, ast.List | ast.ListComp):
        return "builds a list", "allocate an array (np.zeros(n) or np.empty(n)) and fill it by index", ""
    if isinstance(node, ast.Dict | ast.DictComp | ast.Set | ast.SetComp | ast.GeneratorExp):
        kind = {ast.Dict: "dict", ast.DictComp: "dict", ast.GeneratorExp: "generator"}.get(type(node), "set")
        return f"builds a {kind}", "", ""
    if isinstance(node, ast.Tuple):
        return "a tuple", "assign the parts to names of their own", ""
    if isinstance(node, ast.Call):
        return _call_reason(inference, node)
    if isinstance(node, ast.Subscript):
        return _subscript_reason(inference, node)
    if isinstance(node, ast.Attribute):
        owner = inference.type_of(node.value)
        if owner is None or owner.kind == "object":
            return _expr_reason(inference, node.value)
        if inference.view(node.value) is not None and node.attr == "T":
            return f"{text} is a transposed array", "index the array the other way round: X[j, i]", ""
        return f"{text} is a Python object", "", ""
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare | ast.BoolOp | ast.IfExp):
        return _operator_reason(inference, node, t)
    return f"{text} is a Python object", "", ""


def _first_object(inference: Inference, nodes: list[ast.expr]) -> ast.expr | None:
    for node in nodes:
        t = inference.type_of(node)
        if t is None or t.kind == "object":
            return node
    return None


def _operator_reason(inference: Inference, node: ast.expr, t: CType | None) -> _Reason:
    text = ast.unparse(node)
    if isinstance(node, ast.IfExp):
        culprit = _first_object(inference, [node.body, node.orelse])
        if culprit is not None:
            return _expr_reason(inference, culprit)
        body, orelse = inference.type_of(node.body), inference.type_of(node.orelse)
        assert body is not None and orelse is not None
        return (f"the two branches give a {_kind(body)} and a {_kind(orelse)}",
                "make both branches the same type (0.0 rather than 0)", "")
    if isinstance(node, ast.BoolOp):
        culprit = _first_object(inference, node.values)
        if culprit is not None:
            return _expr_reason(inference, culprit)
        return (f"{text} mixes types: and/or returns one of its operands",
                "use if/else, or compare to get a bool", "")
    operands = {
        ast.BinOp: lambda n: [n.left, n.right], ast.UnaryOp: lambda n: [n.operand],
        ast.Compare: lambda n: [n.left, *n.comparators],
    }[type(node)](node)
    culprit = _first_object(inference, operands)
    if culprit is not None and not isinstance(culprit, ast.Constant):
        return _expr_reason(inference, culprit)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base = ast.unparse(node.left)
        return (f"{text}: int ** int is a float in Python when the exponent is negative",
                f"multiply it out for a fixed small power ({base} * {base}), or make the base a float "
                f"(float({base}) ** {ast.unparse(node.right)})", "")
    if isinstance(node, ast.Compare):
        if any(inference.view(o) is not None for o in operands):
            return (f"{text} compares whole arrays (NumPy gives an array of bools)",
                    "compare elements in a loop (x[i] > 0)", "")
        return (f"{text} compares Python objects (strings of more than one character, or a mix of types)",
                "compare single characters (s[i] == 'a') or numbers", "")
    return f"{text} is a Python object", "", ""


def _call_reason(inference: Inference, node: ast.Call) -> _Reason:
    func = node.func
    text = ast.unparse(func)
    numpy = idioms.numpy_name(inference.parsed, func)
    known = idioms.scalar_function(inference.parsed, func) is not None or numpy in idioms.NUMPY_ABS or (
        isinstance(func, ast.Name) and func.id in {"abs", "min", "max", "int", "float", "len", "ord", "range"}
    )
    if known or numpy in idioms.ALLOCATORS | idioms.LIKE:
        culprit = _first_object(inference, [a for a in node.args if not isinstance(a, ast.Starred)])
        if culprit is not None and not (numpy in idioms.ALLOCATORS and isinstance(culprit, ast.Tuple | ast.List)):
            return _expr_reason(inference, culprit)
    if numpy in idioms.ALLOCATORS | idioms.LIKE:
        dims = shape_dims(inference, node.args[0]) if node.args and numpy in idioms.ALLOCATORS else None
        for dim in dims or []:
            if isinstance(dim, ast.expr):
                t = inference.type_of(dim)
                if t is None or t.kind == "object":
                    return _expr_reason(inference, dim)
        reason = inference.call_type(node)[1]
        fix = ""
        if "bool" in reason:
            fix = "use dtype=np.uint8 for flags (0 and 1)"
        elif "not a known dtype" in reason:
            fix = "name the dtype: dtype=np.float64 (or np.int64)"
        elif "only a shape" in reason:
            fix = "drop the other keywords (the array is C-ordered either way)"
        elif "the shape" in reason or "the size" in reason:
            fix = "give the shape as a tuple of ints: (n, m)"
        return reason, fix, ""
    if isinstance(func, ast.Name) and func.id in inference.parsed.calls:
        return f"{func.id}() returns a Python object", f"see {func.id} below", func.id
    if isinstance(func, ast.Attribute) and inference.view(func.value) is not None:
        return (f"{ast.unparse(node)} is a NumPy method call",
                "write it as a loop, or compute it before calling the function and pass it in", "")
    reason = inference.call_type(node)[1] or f"{text}() is a Python call"
    fix = "compute it before the loop, or pass the result in as an argument"
    if isinstance(func, ast.Name) and func.id in {"sum", "sorted", "list", "tuple", "dict", "set", "str"}:
        fix = "write the loop out with a typed accumulator"
    return reason, fix, ""


def _subscript_reason(inference: Inference, node: ast.Subscript) -> _Reason:
    text = ast.unparse(node)
    container = inference.type_of(node.value)
    if container is None or container.kind == "object":
        return _expr_reason(inference, node.value)
    indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    for index in indices:
        if isinstance(index, ast.Slice):
            base = ast.unparse(node.value)
            return (f"{text} is a slice: an array, not a number",
                    f"index single elements in a loop ({base}[i, j])", "")
        t = inference.type_of(index)
        if t is None or t.kind == "object":
            return _expr_reason(inference, index)
        if t.kind != "int":
            return (f"{text} indexes with a {_kind(t)}", f"index with an int: int({ast.unparse(index)})", "")
    if container.kind == "array" and len(indices) > container.ndim:
        return f"{text} has more indices than the array has dimensions", "", ""
    return f"{text} is a Python object", "", ""


def line_reason(inference: Inference, statement: ast.stmt) -> str:
    """What in ``statement`` (its own expressions, not nested blocks) still calls into
    Python; empty when nothing does beyond the checks for errors Python would raise."""
    reasons: list[str] = []
    for node in _own_nodes(statement):
        if not isinstance(node, ast.expr):
            continue
        t = inference.type_of(node)
        if inference.view(node) is not None and (not isinstance(node, ast.Name) or isinstance(node.ctx, ast.Load)):
            if outermost_view(inference, node) is node:
                reasons += _view_reason(inference, node)
        elif isinstance(node, ast.Name):
            local = node.id in inference.assigned or node.id in inference.params
            if local and (t is None or t.kind == "object"):
                reasons.append(f"{node.id} is a Python object")
        elif isinstance(node, ast.Call):
            numpy = idioms.numpy_name(inference.parsed, node.func)
            if numpy in idioms.ALLOCATORS | idioms.LIKE or (t is not None and t.kind == "array"):
                reasons.append(f"allocates an array with {ast.unparse(node.func)}() (once each time it runs)")
            elif (t is None or t.kind in {"object", "str"}) and not _compiled_loop(inference, node):
                reasons.append(f"calls {ast.unparse(node.func)}() in Python")
        elif (t is None or t.kind == "object") and not _read_in_c(inference, node) and (
            all(_typed(inference, c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))
        ):
            reasons.append(f"computes {ast.unparse(node)} with Python objects")
    if isinstance(statement, ast.For):
        loop = inference.loop(statement)
        if loop is not None and loop.kind == PYTHON:
            reasons.append(f"loops in Python over {ast.unparse(statement.iter)}")
    if isinstance(statement, ast.Raise):
        reasons.append("raises an exception")
    if isinstance(statement, ast.Return) and not reasons:
        reasons.append("returns the result to Python (once per call)")
    return "; ".join(list(dict.fromkeys(reasons))[:3])


def _compiled_loop(inference: Inference, call: ast.Call) -> bool:
    """``range(...)``, ``enumerate(...)`` or ``zip(...)`` heading a loop that runs in C."""
    loop = inference.parents.get(call)
    if not (isinstance(loop, ast.For) and loop.iter is call):
        return False
    kind = inference.loop(loop)
    return kind is not None and kind.kind != PYTHON


def _read_in_c(inference: Inference, node: ast.expr) -> bool:
    """Parts of expressions that are no Python objects once compiled, or are reported as a
    whole: literals, slices, ``X.shape`` read at a literal index, a called attribute."""
    if isinstance(node, ast.Constant | ast.Tuple | ast.Starred | ast.Slice):
        return True
    parent = inference.parents.get(node)
    if isinstance(parent, ast.Call) and parent.func is node:
        return True  # the call is the Python part, reported as such
    return (
        idioms.shape_owner(node) is not None and isinstance(parent, ast.Subscript) and parent.value is node
        and idioms.constant_int(parent.slice) is not None
    )


def _typed(inference: Inference, node: ast.expr) -> bool:
    t = inference.type_of(node)
    return t is not None and t.kind != "object"


def _view_reason(inference: Inference, node: ast.expr) -> list[str]:
    use = array_use(inference, node)
    if use == NATIVE:
        return []
    if use != PYTHON:
        return [f"{ast.unparse(node)} is a Python object"]
    parent = inference.parents.get(node)
    context = f" in {ast.unparse(parent)}" if isinstance(parent, ast.expr) else ""
    return [f"hands {ast.unparse(node)} to Python as a NumPy array{context}"]


def _own_nodes(statement: ast.stmt) -> list[ast.AST]:
    """The nodes of a statement's own expressions (a loop's header, not its body)."""
    if isinstance(statement, ast.For):
        roots: list[ast.AST] = [statement.target, statement.iter]
    elif isinstance(statement, ast.While | ast.If):
        roots = [statement.test]
    elif isinstance(statement, ast.With):
        roots = list(statement.items)
    elif isinstance(statement, ast.Try | ast.FunctionDef | ast.ClassDef):
        roots = []
    else:
        roots = [statement]
    return [n for root in roots for n in ast.walk(root)]


def in_loop(inference: Inference, statement: ast.stmt) -> bool:
    """Whether ``statement`` runs again and again: inside a for or while loop of the
    function, and not a return or raise (which leave the loop the first time they run)."""
    if isinstance(statement, ast.Return | ast.Raise):
        return False
    node: ast.AST | None = inference.parents.get(statement)
    while node is not None and node is not inference.parsed.node:
        if isinstance(node, ast.For | ast.While):
            return True
        node = inference.parents.get(node)
    return False


__all__ = ["argument_fix", "explain_names", "in_loop", "line_reason"]
