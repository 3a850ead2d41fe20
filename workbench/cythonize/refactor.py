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

import ast
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from workbench.cythonize.analysis import Parsed, parse
from workbench.cythonize.build import build
from workbench.cythonize.check import Case, CaseResult, call, compare_all, generated_cases
from workbench.cythonize.codegen import VARIANTS, Module, Typed, generate, helper_params
from workbench.cythonize.explain import explain_names, in_loop, line_reason
from workbench.cythonize.infer import Inference, Inferred, call_argument_types, infer, typer
from workbench.cythonize.report import PythonLine, Refactoring, TypedName, annotated_lines
from workbench.cythonize.typesys import OBJECT, CType, of_value, unify
from workbench.errors import CompileError, CythonizeError
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
    by_name = {p.name: p for p in [main, *parsed_helpers]}
    try:
        built = build(module.source)
    except CompileError as exc:
        raise in_user_lines(exc, module, by_name) from exc

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
    signatures = helper_params(functions)
    readers = {p.name: typer(p, inferred[p.name], helper_returns, signatures) for p in by_name.values()}
    typed_names = _typed_names(readers[main.name], inferred[main.name], described)
    for helper in parsed_helpers:
        typed_names += _typed_names(readers[helper.name], inferred[helper.name], {})
    touching, checks = _python_lines(built.annotation_html, module, (start, end), readers[main.name])
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
        python_lines=touching,
        error_check_lines=checks,
        variant_lines={n: origin[1] for n, origin in module.lines.items() if start <= n <= end},
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
    """Infer the main function and its helpers until helper argument and return types settle."""
    helper_returns: dict[str, CType] = {}
    by_name = {p.name: p for p in [main, *helpers]}
    inferred: dict[str, Inferred] = {}
    for _ in range(20):
        before = dict(helper_returns)
        inferred[main.name] = infer(main, params, helper_returns)
        for helper in helpers:
            types: dict[str, CType] = {}
            for caller in inferred:
                if caller != helper.name:
                    for arg, t in call_argument_types(by_name[caller], inferred[caller], helper).items():
                        types[arg] = unify(types.get(arg), t)
            for param in helper.node.args.args + helper.node.args.kwonlyargs:
                types.setdefault(param.arg, OBJECT)
            inferred[helper.name] = infer(helper, types, helper_returns)
            helper_returns[helper.name] = inferred[helper.name].returns
        if helper_returns == before:
            break
    return inferred, helper_returns


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


def _typed_names(inference: Inference, inferred: Inferred, described: dict[str, str]) -> list[TypedName]:
    name = inference.parsed.name
    whys = explain_names(inference, inferred, described)
    rows = []
    for param, t in inferred.params.items():
        if param not in whys:
            why = described.get(param, "from the calls to it")
            rows.append(TypedName(name, param, "argument", t.decl, why))
    for local, t in sorted(inferred.locals.items()):
        rows.append(TypedName(name, local, "local", t.decl, "from its assignments"))
    for left, reason in sorted(whys.items()):
        role = "argument" if left in inferred.params else "local"
        rows.append(TypedName(name, left, role, "object", reason.reason, reason.line, reason.fix, reason.cause))
    return rows


def _statement_at(parsed: Parsed, line: int) -> ast.stmt | None:
    """The (outermost) statement of the function that starts on the user's ``line``."""
    for node in ast.walk(parsed.node):
        if isinstance(node, ast.stmt) and node is not parsed.node and parsed.line(node) == line:
            return node
    return None


def _python_lines(
    annotation: str, module: Module, span: tuple[int, int], inference: Inference
) -> tuple[list[PythonLine], list[int]]:
    """Cython's lines that still call into Python, as lines of the user's function: those
    that call Python for their work, and those that only check for Python's errors."""
    parsed = inference.parsed
    scores: dict[int, int] = {}
    for generated, score, _ in annotated_lines(annotation, *span):
        origin = module.lines.get(generated)
        if origin is not None and origin[0] == parsed.name:
            scores[origin[1]] = max(score, scores.get(origin[1], 0))
    lines, checks = [], []
    for line, score in sorted(scores.items()):
        statement = _statement_at(parsed, line)
        reason = line_reason(inference, statement) if statement is not None else ""
        if not reason:
            checks.append(line)
            continue
        looped = statement is not None and in_loop(inference, statement)
        lines.append(PythonLine(line, score, parsed.text(line), reason, looped))
    return lines, checks


_CYTHON_LOCATION = re.compile(r"^(?P<file>[\w.]+\.pyx):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$", re.MULTILINE)


def in_user_lines(error: CompileError, module: Module, functions: dict[str, Parsed]) -> CompileError:
    """The compiler's complaints about the generated module, as lines of the user's functions."""
    found = []
    output: str = getattr(error, "output", "")
    for match in _CYTHON_LOCATION.finditer(output):
        origin = module.lines.get(int(match["line"]))
        if origin is None:
            found.append(f"in code %cythonize adds to every module: {match['message']}")
            continue
        name, line = origin
        text = functions[name].text(line)
        found.append(f"{name}, line {line} ({text}): {match['message']}")
    stage = getattr(error, "stage", "Cython")
    if not found:
        return CompileError(f"{stage} failed on the code generated for {', '.join(functions)}:\n{output}",
                            stage=stage, output=output)
    lines = [f"{stage} cannot compile the code generated for {', '.join(functions)}:", *found]
    return CompileError("\n".join(lines), stage=stage, output=output, line=_first_line(module, output))


def _first_line(module: Module, output: str) -> int | None:
    for match in _CYTHON_LOCATION.finditer(output):
        origin = module.lines.get(int(match["line"]))
        if origin is not None:
            return origin[1]
    return None


__all__ = ["GENERATED_CASES", "refactor"]
