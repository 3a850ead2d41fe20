"""Reading a notebook function: its syntax tree, what it cannot compile, what it imports.

The compiled module has its own globals, so every notebook name the function reads must
be recreated there: modules are imported again, importable functions imported from their
module, numbers and strings frozen as constants, helpers compiled alongside. Anything else
is refused with the line and the reason, and the Python function stays in place.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
import types
from collections.abc import Collection
from dataclasses import dataclass, field

from workbench.errors import UnsupportedConstructError

# names Cython reads as its own statements or operators, whatever the context
CYTHON_RESERVED = frozenset({"cdef", "cpdef", "ctypedef", "cimport", "include", "DEF", "IF", "ELIF", "ELSE", "sizeof",
                             "NULL"})


@dataclass
class Parsed:
    """One function ready for inference: its tree and the globals the module must recreate."""

    func: types.FunctionType
    name: str
    node: ast.FunctionDef
    first_line: int
    source: str = ""
    imports: list[str] = field(default_factory=list)
    constants: dict[str, int | float | bool | str] = field(default_factory=dict)
    math_modules: set[str] = field(default_factory=set)
    numpy_modules: set[str] = field(default_factory=set)
    # notebook name -> (module, attribute) for functions imported from math or numpy
    imported_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    calls: set[str] = field(default_factory=set)  # helpers it calls

    def line(self, node: ast.AST) -> int:
        """Line of ``node`` in the cell or file that defines the function."""
        return self.first_line + getattr(node, "lineno", 1) - 1

    def text(self, line: int) -> str:
        """The user's source of ``line`` (a line of the cell or file), stripped."""
        lines = self.source.splitlines()
        index = line - self.first_line
        return lines[index].strip() if 0 <= index < len(lines) else ""


def _refuse(parsed_name: str, line: int, reason: str) -> UnsupportedConstructError:
    return UnsupportedConstructError(
        f"cannot compile {parsed_name}: line {line}: {reason}", function=parsed_name, line=line, reason=reason
    )


def parse(func: object, helpers: Collection[str] = ()) -> Parsed:
    """Parse ``func`` and resolve its globals; raise UnsupportedConstructError when it cannot compile."""
    name = getattr(func, "__name__", repr(func))
    if not isinstance(func, types.FunctionType):
        raise _refuse(name, 0, f"{type(func).__name__} is not a plain Python function")
    first = func.__code__.co_firstlineno
    if name == "<lambda>":
        raise _refuse(name, first, "a lambda; define it with def")
    if func.__code__.co_freevars:
        names = ", ".join(func.__code__.co_freevars)
        raise _refuse(name, first, f"a closure over variables of an enclosing function ({names})")
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise _refuse(name, first, f"its source is not available ({exc})") from None
    tree = ast.parse(source)
    node = tree.body[0]
    if isinstance(node, ast.AsyncFunctionDef):
        raise _refuse(name, first, "an async function")
    assert isinstance(node, ast.FunctionDef)
    parsed = Parsed(func, name, node, first, source)
    if node.decorator_list:
        raise _refuse(name, first, "a decorated function; compile the undecorated one")
    args = node.args
    if args.vararg or args.kwarg:
        star = args.vararg or args.kwarg
        assert star is not None
        raise _refuse(name, parsed.line(star), f"*{star.arg} or **{star.arg} arguments cannot be typed")
    for sub in ast.walk(node):
        reason = _unsupported(sub)
        if reason:
            raise _refuse(name, parsed.line(sub), reason)
    _resolve_globals(parsed, {*helpers, name})  # a recursive call goes to the compiled version
    return parsed


def _unsupported(node: ast.AST) -> str | None:
    if isinstance(node, ast.Yield | ast.YieldFrom):
        return "a generator (yield): a compiled function must return its result"
    if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith):
        return "async code"
    if isinstance(node, ast.Global):
        return f"global {', '.join(node.names)}: the compiled module cannot rebind notebook globals"
    if isinstance(node, ast.Nonlocal):
        return f"nonlocal {', '.join(node.names)}: a closure over a mutable cell"
    name = node.id if isinstance(node, ast.Name) else node.arg if isinstance(node, ast.arg) else None
    if name in CYTHON_RESERVED:
        return f"the name {name!r} is a word Cython reserves; rename it"
    return None


def local_names(node: ast.FunctionDef) -> set[str]:
    """Names the function binds: arguments, assignment and loop targets, imports, nested defs."""
    args = node.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
            names.add(sub.id)
        elif isinstance(sub, ast.FunctionDef | ast.ClassDef) and sub is not node:
            names.add(sub.name)
        elif isinstance(sub, ast.alias):
            names.add((sub.asname or sub.name).split(".")[0])
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
    return names


def _resolve_globals(parsed: Parsed, helpers: set[str]) -> None:
    bound = local_names(parsed.node)
    seen: set[str] = set()
    for sub in ast.walk(parsed.node):
        if not (isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)) or sub.id in bound | seen:
            continue
        seen.add(sub.id)
        name = sub.id
        if name in helpers:
            parsed.calls.add(name)
            continue
        if name not in parsed.func.__globals__:
            if hasattr(builtins, name):
                continue
            raise _refuse(parsed.name, parsed.line(sub), f"name {name!r} is not defined")
        value = parsed.func.__globals__[name]
        if isinstance(value, types.ModuleType):
            module = value.__name__
            parsed.imports.append(f"import {module}" if module == name else f"import {module} as {name}")
            if module == "math":
                parsed.math_modules.add(name)
            elif module == "numpy":
                parsed.numpy_modules.add(name)
        elif type(value) in (bool, int, float, str):
            parsed.constants[name] = value  # type: ignore[assignment]
        elif _importable(value):
            module, attr = value.__module__, value.__name__
            parsed.imports.append(f"from {module} import {attr}" + ("" if attr == name else f" as {name}"))
            if module in {"math", "numpy"}:
                parsed.imported_names[name] = (module, attr)
        elif isinstance(value, types.FunctionType):
            raise _refuse(
                parsed.name,
                parsed.line(sub),
                f"calls notebook function {name!r}; compile it alongside with --with {name}",
            )
        else:
            raise _refuse(
                parsed.name,
                parsed.line(sub),
                f"reads notebook variable {name!r} (a {type(value).__name__}); pass it in as an argument",
            )


def _importable(value: object) -> bool:
    """A function or class the compiled module can import by its module and name."""
    module, attr = getattr(value, "__module__", None), getattr(value, "__name__", None)
    if not module or not attr or module in {"__main__", "builtins"}:
        return False
    try:
        return getattr(importlib.import_module(module), attr) is value
    except (ImportError, AttributeError):
        return False


__all__ = ["Parsed", "local_names", "parse"]
