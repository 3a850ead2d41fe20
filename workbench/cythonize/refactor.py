"""``refactor()``: a Python function to a compiled, checked, measured Cython version.

The steps: parse the function (refusing what cannot compile), type its arguments from a
sample call and its locals from their assignments, generate one module holding each
directive variant, build it (or load it from the cache), run every case through the
Python function and the variants, keep the fastest variant that agrees on all of them,
and time it against the Python function.

Directives are decided by the cases, in an order that never runs undefined behaviour:
``wraparound(False)`` is tried with bounds checks still on (a negative index then raises
instead of wrapping), ``boundscheck(False)`` only when no case indexed out of bounds, and
``cdivision(True)`` only when no case divided by zero and it changes no result. The safe
variants check C integer overflow (OverflowError where Python's int would grow), so a
case that overflows makes the check fail; the fast ones, chosen only when none did, drop
that check as they drop the bounds checks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from workbench.cythonize.analysis import Parsed, parse
from workbench.cythonize.build import build
from workbench.cythonize.check import Case, CaseResult, call, compare_all, generated_cases
from workbench.cythonize.codegen import VARIANTS, Typed, generate
from workbench.cythonize.infer import Inferred, call_argument_types, infer
from workbench.cythonize.report import Refactoring, TypedName, python_lines
from workbench.cythonize.typesys import OBJECT, CType, of_value, unify
from workbench.errors import CythonizeError
from workbench.timing import Comparison, compare

GENERATED_CASES = 6
Call = tuple[tuple[Any, ...], dict[str, Any]]


def refactor(
    func: Callable[..., Any],
    *sample_args: Any,
    helpers: Sequence[Callable[..., Any]] = (),
    recorded: Iterable[Call] = (),
    generated: int = GENERATED_CASES,
    check: bool = True,
    speedup: bool = True,
    repeat: int = 7,
    seed: int = 0,
    **sample_kwargs: Any,
) -> Refactoring:
    """Compile ``func`` to typed Cython, check it against the Python version and time both.

    The sample call ``func(*sample_args, **sample_kwargs)`` gives the argument types (when
    it is empty, the first of ``recorded``: ``(args, kwargs)`` pairs from real calls).
    ``helpers`` are notebook functions ``func`` calls, compiled alongside. ``generated``
    more cases of the sample's types and shapes join the check. With ``check=False`` the
    safe variant (bounds checks, Python division) is used unchecked.

    Raises UnsupportedConstructError (line and reason) for code it cannot compile and
    CompileError with the compiler's output; a result that differs shows up in
    ``Refactoring.equivalence`` and makes ``Refactoring.function`` raise EquivalenceError.
    """
    calls = [(tuple(a), dict(k)) for a, k in recorded]
    if not sample_args and not sample_kwargs and calls:
        sample_args, sample_kwargs = calls[0]
    elif not sample_args and not sample_kwargs and _takes_arguments(func):
        raise CythonizeError(
            f"{getattr(func, '__name__', func)} needs a sample call to type its arguments",
            hint='give one (%cythonize f --sample "f(X, 3)") or record real calls with %cythonize --record N f',
        )
    main = parse(func, [h.__name__ for h in helpers])
    parsed_helpers = [parse(h, [g.__name__ for g in helpers]) for h in helpers]
    params, described = _sample_types(func, sample_args, sample_kwargs)
    inferred, helper_returns = _infer_all(main, params, parsed_helpers)

    variants = {v: f"__{v}" for v in (VARIANTS if check else ["safe"])}
    functions = [Typed(main, inferred[main.name])] + [Typed(h, inferred[h.name], helper=True) for h in parsed_helpers]
    module = generate(functions, variants, helper_returns, main.name)
    built = build(module.source)

    sample = Case("sample", tuple(sample_args), dict(sample_kwargs))
    cases = [sample] + [Case("recorded", a, k, i) for i, (a, k) in enumerate(calls, 1)]
    cases += generated_cases(sample, generated, seed) if check else []
    compiled = {v: getattr(built.module, main.name + suffix) for v, suffix in variants.items()}
    if check:
        variant, notes, results = _choose(func, compiled, cases)
    else:
        variant, notes, results = "safe", ["not checked (--no-check): bounds checks and Python division kept"], None

    sample_raises = results[0].expected.error is not None if results else call(func, sample).error is not None
    comparison = None if not speedup or sample_raises else _time(func, compiled[variant], sample, repeat)
    start, end = module.spans[(main.name, variant)]
    typed_names = _typed_names(main, inferred[main.name], described)
    for helper in parsed_helpers:
        typed_names += _typed_names(helper, inferred[helper.name], {})
    return Refactoring(
        name=main.name,
        python=func,
        compiled=compiled[variant],
        variant=variant,
        directive_notes=notes,
        module_source=module.source,
        variant_source="\n".join(module.source.splitlines()[start - 1 : end]),
        typed=typed_names,
        returns=inferred[main.name].returns,
        results=results,
        comparison=comparison,
        build=built,
        python_lines=python_lines(built.annotation_html, start, end),
        export_parts=(functions, helper_returns),
    )


def _takes_arguments(func: Callable[..., Any]) -> bool:
    code = getattr(func, "__code__", None)
    return code is None or bool(code.co_argcount + code.co_kwonlyargcount)


def _sample_types(
    func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
) -> tuple[dict[str, CType], dict[str, str]]:
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except TypeError as exc:
        raise CythonizeError(
            f"the sample call does not match {func.__name__}'s signature: {exc}",
            hint="give the arguments the function takes",
        ) from exc
    bound.apply_defaults()
    params: dict[str, CType] = {}
    described: dict[str, str] = {}
    for name, value in bound.arguments.items():
        params[name], described[name] = of_value(value)
    return params, described


def _infer_all(
    main: Parsed, params: dict[str, CType], helpers: Sequence[Parsed]
) -> tuple[dict[str, Inferred], dict[str, CType]]:
    """Infer the main function and its helpers until helper argument and return types settle.

    An array passed to a helper that keeps that argument a Python object must stay a
    Python object in the caller too (a memoryview is not the array it views).
    """
    left: dict[str, dict[str, str]] = {main.name: {}, **{h.name: {} for h in helpers}}
    helper_returns: dict[str, CType] = {}
    by_name = {p.name: p for p in [main, *helpers]}
    inferred: dict[str, Inferred] = {}
    for _ in range(20):
        before = (dict(helper_returns), {k: dict(v) for k, v in left.items()})
        inferred[main.name] = infer(main, params, helper_returns, left[main.name])
        for helper in helpers:
            types: dict[str, CType] = {}
            for caller in inferred:
                if caller != helper.name:
                    for arg, t in call_argument_types(by_name[caller], inferred[caller], helper).items():
                        types[arg] = unify(types.get(arg), t)
            for param in helper.node.args.args + helper.node.args.kwonlyargs:
                types.setdefault(param.arg, OBJECT)
            inferred[helper.name] = infer(helper, types, helper_returns, left[helper.name])
            helper_returns[helper.name] = inferred[helper.name].returns
            for caller in list(inferred):
                _keep_objects_passed(by_name[caller], inferred[caller], helper, inferred[helper.name], left[caller])
        if (helper_returns, left) == before:
            break
    return inferred, helper_returns


def _keep_objects_passed(
    caller: Parsed, caller_types: Inferred, helper: Parsed, helper_types: Inferred, left: dict[str, str]
) -> None:
    names = [a.arg for a in helper.node.args.args]
    for call_node in caller_types.calls.get(helper.name, []):
        bound = dict(zip(names, call_node.args, strict=False))
        bound.update({k.arg: k.value for k in call_node.keywords if k.arg})
        for param, expr in bound.items():
            typed = caller_types.params.get(getattr(expr, "id", "")) or caller_types.locals.get(getattr(expr, "id", ""))
            if typed is not None and typed.kind == "array" and helper_types.params.get(param) == OBJECT:
                left.setdefault(getattr(expr, "id", ""), f"passed to {helper.name}, which uses it as a Python object")


def _choose(
    func: Callable[..., Any], compiled: dict[str, Callable[..., Any]], cases: list[Case]
) -> tuple[str, list[str], list[CaseResult]]:
    """The fastest variant agreeing with Python on every case, and why the others were not used."""
    expected = [call(func, case) for case in cases]
    safe = compare_all(compiled["safe"], cases, expected)
    if any(not r.ok for r in safe):
        return "safe", ["a case differs even with every check on: the compiled version is not used"], safe
    raised = {o.error for o in expected if o.error is not None}
    checked = compare_all(compiled["checked"], cases, expected)
    bad = next((r for r in checked if not r.ok), None)
    if bad is not None:
        return "safe", [f"wraparound kept: {bad.case.label} indexes from the end"], safe
    if IndexError in raised or any(r.actual.error is IndexError for r in checked):
        return "checked", ["boundscheck kept: a case indexes out of bounds"], checked
    notes = [
        "boundscheck(False), wraparound(False): every case indexes in bounds",
        "overflowcheck(False): no case overflows a 64-bit integer",
    ]
    if ZeroDivisionError not in raised:
        fast = compare_all(compiled["fast"], cases, expected)
        bad = next((r for r in fast if not r.ok), None)
        if bad is None:
            return "fast", [*notes, "cdivision(True): no case divides by zero or changes with C division"], fast
        notes.append(f"cdivision kept off: C division changes {bad.case.label}")
    else:
        notes.append("cdivision kept off: a case divides by zero")
    return "fast_pydiv", notes, compare_all(compiled["fast_pydiv"], cases, expected)


def _time(func: Callable[..., Any], compiled: Callable[..., Any], sample: Case, repeat: int) -> Comparison:
    args, kwargs = sample.args, sample.kwargs
    return compare(
        {"python": lambda: func(*args, **kwargs), "cython": lambda: compiled(*args, **kwargs)}, repeat=repeat
    )


def _typed_names(parsed: Parsed, inferred: Inferred, described: dict[str, str]) -> list[TypedName]:
    rows = []
    for name, t in inferred.params.items():
        if name in inferred.left:
            continue
        why = described.get(name, "from the calls to it")
        rows.append(TypedName(parsed.name, name, "argument", t.decl if t.kind != "object" else "object", why))
    for name, t in sorted(inferred.locals.items()):
        rows.append(TypedName(parsed.name, name, "local", t.decl, "from its assignments"))
    for name, reason in sorted(inferred.left.items()):
        role = "argument" if name in inferred.params else "local"
        rows.append(TypedName(parsed.name, name, role, "object", reason))
    return rows


__all__ = ["GENERATED_CASES", "refactor"]
