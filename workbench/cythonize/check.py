"""Equivalence of the compiled function with the Python one, case by case.

A case is one call: the sample, a call recorded from the session, or generated inputs of
the sample's types and shapes (seeded, so a check is repeatable). Results must be equal:
exactly for ints, bools, strings and integer arrays; with :func:`numpy.allclose` at the
stated tolerance for floats; an exception must be of the same type. Arguments the
function writes into (arrays) must hold the same values afterwards too.
"""

from __future__ import annotations

import copy
import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RTOL = 1e-7
ATOL = 1e-10


@dataclass
class Case:
    """One call's arguments and where they came from (sample, recorded, generated)."""

    origin: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    index: int = 0

    @property
    def label(self) -> str:
        return self.origin if self.origin == "sample" else f"{self.origin} #{self.index}"

    def describe(self, name: str) -> str:
        parts = [summarize(a) for a in self.args] + [f"{k}={summarize(v)}" for k, v in self.kwargs.items()]
        return f"{name}({', '.join(parts)})"


@dataclass
class Outcome:
    """What one call did: its value or the type of the exception it raised."""

    value: Any = None
    error: type[BaseException] | None = None
    message: str = ""
    arguments: tuple[Any, ...] = ()  # the arrays passed in, after the call

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {self.error.__name__}: {self.message}"
        return summarize(self.value, full=True)


@dataclass
class CaseResult:
    case: Case
    expected: Outcome
    actual: Outcome
    difference: str | None

    @property
    def ok(self) -> bool:
        return self.difference is None


def summarize(value: Any, full: bool = False) -> str:
    """Short text for a value; arrays by dtype and shape unless ``full`` and small."""
    if isinstance(value, np.ndarray):
        if full and value.size <= 12:
            return np.array2string(value, precision=10, separator=", ")
        return f"<{value.dtype.name} array {value.shape}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def call(func: Callable[..., Any], case: Case) -> Outcome:
    """Run ``func`` on a copy of the case's arguments (so cases stay reusable); a read-only
    array stays read-only in the copy, as the function will meet it."""
    args, kwargs = copy.deepcopy((case.args, case.kwargs))
    for original, copied in zip([*case.args, *case.kwargs.values()], [*args, *kwargs.values()], strict=True):
        if isinstance(original, np.ndarray) and not original.flags.writeable:
            copied.flags.writeable = False
    try:
        value = func(*args, **kwargs)
    except Exception as exc:
        return Outcome(error=type(exc), message=str(exc), arguments=_arrays(args, kwargs))
    return Outcome(value=value, arguments=_arrays(args, kwargs))


def _arrays(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(v for v in [*args, *kwargs.values()] if isinstance(v, np.ndarray))


def difference(expected: Outcome, actual: Outcome) -> str | None:
    """Why two outcomes differ, or None when they agree."""
    if expected.error is not None or actual.error is not None:
        if expected.error is actual.error:
            return None
        return f"Python {expected.describe()}, compiled {actual.describe()}"
    reason = value_difference(expected.value, actual.value)
    if reason:
        return reason
    for i, (before, after) in enumerate(zip(expected.arguments, actual.arguments, strict=True)):
        reason = value_difference(before, after)
        if reason:
            return f"array argument {i + 1} written differently: {reason}"
    return None


def _is_float(value: Any) -> bool:
    return isinstance(value, float | np.floating)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer | np.bool_)


def value_difference(expected: Any, actual: Any) -> str | None:
    """Exact for ints and strings, ``numpy.allclose(rtol=RTOL, atol=ATOL)`` for floats."""
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        if not (isinstance(expected, np.ndarray) and isinstance(actual, np.ndarray)):
            return f"{type(expected).__name__} vs {type(actual).__name__}"
        if expected.shape != actual.shape:
            return f"shape {expected.shape} vs {actual.shape}"
        if expected.dtype.kind == "f" or actual.dtype.kind == "f":
            if np.allclose(expected, actual, rtol=RTOL, atol=ATOL, equal_nan=True):
                return None
            return f"arrays differ beyond rtol={RTOL:g}, atol={ATOL:g}"
        return None if np.array_equal(expected, actual) else "integer arrays differ"
    if (_is_float(expected) or _is_float(actual)) and (_is_int(expected) or _is_float(expected)) and (
        _is_int(actual) or _is_float(actual)
    ):
        a, b = float(expected), float(actual)
        if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL):
            return None
        return f"{expected!r} vs {actual!r}"
    if _is_int(expected) and _is_int(actual):
        return None if int(expected) == int(actual) else f"{expected!r} vs {actual!r}"
    if isinstance(expected, tuple | list):
        if type(expected) is not type(actual) or len(expected) != len(actual):
            return f"{summarize(expected)} vs {summarize(actual)}"
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            reason = value_difference(a, b)
            if reason:
                return f"item {i}: {reason}"
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or expected.keys() != actual.keys():
            return f"{summarize(expected)} vs {summarize(actual)}"
        for key in expected:
            reason = value_difference(expected[key], actual[key])
            if reason:
                return f"[{key!r}]: {reason}"
        return None
    try:
        equal = bool(expected == actual) and type(expected) is type(actual)
    except (TypeError, ValueError):
        equal = False
    return None if equal else f"{summarize(expected)} vs {summarize(actual)}"


# generated inputs --------------------------------------------------------------------

def _vary(value: Any, rng: np.random.Generator, k: int) -> Any:
    """A value of the same type and shape as ``value``, within the sample's range."""
    if isinstance(value, bool | np.bool_):
        return bool(rng.integers(0, 2))
    if isinstance(value, int | np.integer):
        v = int(value)
        lo, hi = sorted((v // 2, v))
        return type(value)(int(rng.integers(lo, hi + 1)))
    if isinstance(value, float | np.floating):
        x = float(value)
        return type(value)(x * rng.uniform(0.5, 1.5) if k % 2 else x + rng.normal())
    if isinstance(value, str):
        alphabet = sorted(set(value)) or list(string.ascii_lowercase)
        length = len(value) if k % 2 else int(rng.integers(0, 2 * len(value) + 2))
        return "".join(rng.choice(alphabet, size=length))
    if isinstance(value, np.ndarray) and value.size:
        if value.dtype.kind == "f":
            spread = float(np.std(value)) or 1.0
            fresh = np.asarray(rng.normal(float(np.mean(value)), spread, value.shape), dtype=value.dtype)
        elif value.dtype.kind in "iu":
            fresh = rng.integers(int(value.min()), int(value.max()) + 1, value.shape).astype(value.dtype)
        elif value.dtype.kind == "b":
            fresh = rng.integers(0, 2, value.shape).astype(bool)
        else:
            return copy.deepcopy(value)
        if value.flags.f_contiguous and not value.flags.c_contiguous:
            fresh = np.asfortranarray(fresh)
        fresh.flags.writeable = value.flags.writeable
        return fresh
    if isinstance(value, list) and value and all(type(v) in (int, float) for v in value):
        return [_vary(v, rng, k) for v in value]
    return copy.deepcopy(value)


def generated_cases(sample: Case, count: int, seed: int = 0) -> list[Case]:
    """``count`` cases with the sample's types and shapes, from a seeded generator."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(1, count + 1):
        args = tuple(_vary(a, rng, k) for a in sample.args)
        kwargs = {name: _vary(v, rng, k) for name, v in sample.kwargs.items()}
        cases.append(Case("generated", args, kwargs, k))
    return cases


def compare_all(
    func: Callable[..., Any], cases: Sequence[Case], expected: Sequence[Outcome]
) -> list[CaseResult]:
    """Each case run through ``func`` and compared with the Python outcome."""
    return [
        CaseResult(case, want, got, difference(want, got))
        for case, want in zip(cases, expected, strict=True)
        for got in [call(func, case)]
    ]


__all__ = [
    "ATOL",
    "RTOL",
    "Case",
    "CaseResult",
    "Outcome",
    "call",
    "compare_all",
    "difference",
    "generated_cases",
    "summarize",
    "value_difference",
]
