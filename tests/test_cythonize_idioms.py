"""%cythonize on everyday numeric code: shapes, local arrays, loops, scalar functions.

Inference is checked without a compiler; three kernels (the issue's matmul, one holding
every other idiom, one that keeps things Python on purpose) compile for real, through the
session's shared build cache, and are checked against Python. Reports, refusals and
compiler errors must name the lines of the user's function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import require_executable
from workbench.cythonize import Refactoring, refactor
from workbench.cythonize.analysis import parse
from workbench.cythonize.build import OPTIMIZE_ENV, build, compiler
from workbench.cythonize.codegen import Typed, generate
from workbench.cythonize.explain import explain_names
from workbench.cythonize.infer import Inferred, infer, typer
from workbench.cythonize.refactor import in_user_lines
from workbench.cythonize.typesys import FLOAT, INT, of_value
from workbench.errors import CompileError, UnsupportedConstructError

COMPILE_TIMEOUT = 180
HELPERS = ["first_above"]  # a notebook function the kernels call, compiled alongside


@pytest.fixture(scope="session")
def cython_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cythonize-home"


@pytest.fixture(autouse=True)
def shared_cache(isolated_environment: Path, cython_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("WORKBENCH_HOME", str(cython_home))
    # what is built and checked does not depend on gcc's level; -O0 builds about five times faster
    monkeypatch.setenv(OPTIMIZE_ENV, "0")
    yield cython_home


@pytest.fixture(scope="session")
def cc() -> str:
    """The C compiler: compile tests skip without one locally and fail on CI."""
    return require_executable(compiler()[0])


def _compiled(func: Callable[..., Any], *args: Any, **options: Any) -> Refactoring:
    """Compiled and checked, not timed (the shared cache makes a second compile a hit)."""
    return refactor(func, *args, speedup=False, **options)


def _infer(func: Callable[..., Any], *args: Any) -> Inferred:
    parsed = parse(func, HELPERS)
    names = parsed.func.__code__.co_varnames
    return infer(parsed, {name: of_value(v)[0] for name, v in zip(names, args, strict=False)}, {})


def _decls(inferred: Inferred) -> dict[str, str]:
    return {name: t.decl for name, t in inferred.locals.items()}


def _source(func: Callable[..., Any], *args: Any) -> str:
    """The generated module (one variant, not compiled)."""
    parsed = parse(func, HELPERS)
    names = parsed.func.__code__.co_varnames
    inferred = infer(parsed, {name: of_value(v)[0] for name, v in zip(names, args, strict=False)}, {})
    return generate([Typed(parsed, inferred)], {"fast": ""}, {}, parsed.name).source


# kernels, written as people write them ------------------------------------------------

def matmul(a, b):
    n, m = a.shape
    p = b.shape[1]
    out = np.zeros((n, p))
    for i in range(n):
        for j in range(p):
            acc = 0.0
            for k in range(m):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc
    return out


def shapes(X, V):
    h, w = X.shape
    d0, d1 = V.shape[:2]
    n = len(X)
    p, q = len(X), len(V)
    return h * w + d0 * d1 + n * p * q + X.size + V.ndim + V.shape[-1]


def allocations(X, n):
    a = np.zeros((n, n))
    b = np.empty(n, dtype=np.int32)
    c = np.ones(n, int)
    d = np.full(n, np.inf)
    e = np.full((n, 2), -1)
    f = np.zeros_like(X)
    g = np.empty_like(X, dtype=np.float32)
    h = np.arange(n)
    k = np.arange(0.0, 1.0, 0.25)
    m = np.zeros(X.shape, dtype=X.dtype)
    p = np.linspace(0, 1, n)
    q = X.copy()
    return a, b, c, d, e, f, g, h, k, m, p, q


def scalars(x, n, s):
    total = 0
    for v in x:
        total += math.sqrt(abs(v)) + np.exp(-v) + np.abs(v)
    lo = min(n, 3)
    hi = max(total, 1)
    fl = math.floor(total)
    sq = n ** 2
    flags = np.isnan(total) or math.isinf(hi)
    first = s[0]
    found = first == "a" or first in "xyz" or first.isdigit()
    return total, lo, hi, fl, sq, flags, found, ord(first)


def everyday(X, step, text):
    """Every idiom of the issue but matmul's, in one kernel compiled once."""
    nx, ny, nz = X.shape
    out = np.zeros((nx, ny), dtype=X.dtype)
    counts = np.zeros(4, dtype=np.int64)
    best = np.full(nx, -np.inf)
    order = np.arange(ny)
    for i in range(nx - 1, -1, -1):
        for j in range(0, ny, step):
            for k in range(nz):
                out[i, j] += X[i, j, k] * X[i, j, k]
                best[i] = max(best[i], abs(X[i, j, k]))
            counts[order[j] % 4] += 1
    total = 0
    for i, v in enumerate(best):
        total += math.sqrt(v) * i
    for a, b in zip(best, order, strict=False):
        total += np.hypot(a, b)
    total += best.sum() - counts.max()
    k = 0
    while k < nx and out[k, 0] < 1.5:
        k += 1
    words = 0
    inside = False
    for ch in text:
        if ch == " " or ch.isspace():
            inside = False
        elif not inside:
            inside = True
            words += 1
    return out, counts, total, k, words, first_above(best, 0.5)


def first_above(x, threshold):
    for i in range(len(x)):
        if x[i] > threshold:
            return i
    return -1


def stays_python(X, n):
    seen = np.zeros(n, dtype=bool)
    found = []
    best = None
    for row in X:
        for v in row:
            if best is None or v < best:
                best = v
    for i in range(n):
        if not seen[i]:
            found.append(i)
    return best, found, X.sum()


def with_reserved_word(x):
    include = x + 1
    return include


# inference, no compiler -------------------------------------------------------------

def test_shapes_unpack_slice_and_measure_as_c_integers() -> None:
    inferred = _infer(shapes, np.zeros((3, 4)), np.zeros((2, 5, 6)))
    assert _decls(inferred) == {name: "Py_ssize_t" for name in ["h", "w", "d0", "d1", "n", "p", "q"]}
    assert inferred.returns == INT and not inferred.left
    source = _source(shapes, np.zeros((3, 4)), np.zeros((2, 5, 6)))
    assert "h, w = (X.shape[0], X.shape[1])" in source
    assert "d0, d1 = (V.shape[0], V.shape[1])" in source
    assert "X.shape[0] * X.shape[1] + 3 + V.shape[2]" in source  # size, ndim and shape[-1] in C


def test_unpacking_a_shape_into_the_wrong_number_of_names_stays_python_with_the_reason() -> None:
    def wrong(X):
        n, m = X.shape
        return n + m

    parsed = parse(wrong)
    inferred = infer(parsed, {"X": of_value(np.zeros(3))[0]}, {})
    why = explain_names(typer(parsed, inferred, {}), inferred, {})["n"]
    assert "n" not in inferred.locals and why.line == wrong.__code__.co_firstlineno + 1
    assert "1-D array into a different number of names" in why.reason


def test_arrays_made_in_the_function_are_typed_with_their_dtype() -> None:
    inferred = _infer(allocations, np.zeros((3, 4)), 5)
    assert _decls(inferred) == {
        "a": "double[:, ::1]", "b": "int32_t[::1]", "c": "int64_t[::1]", "d": "double[::1]",
        "e": "int64_t[:, ::1]", "f": "double[:, ::1]", "g": "float[:, ::1]", "h": "int64_t[::1]",
        "k": "double[::1]", "m": "double[:, ::1]", "p": "double[::1]", "q": "double[:, ::1]",
    }
    int_x = _infer(allocations, np.zeros((3, 4), dtype=np.int32), 5)
    assert int_x.locals["m"].decl == "int32_t[:, ::1]" and int_x.locals["f"].decl == "int32_t[:, ::1]"
    fortran = _infer(allocations, np.asfortranarray(np.zeros((3, 4))), 5)
    assert fortran.locals["f"].decl == "double[:, :]"  # zeros_like keeps the layout: no C promise


def test_scalar_functions_min_max_abs_powers_and_characters_are_c() -> None:
    inferred = _infer(scalars, np.zeros(3), 4, "a1")
    assert _decls(inferred) == {
        "total": "double", "v": "double", "lo": "Py_ssize_t", "hi": "double", "fl": "Py_ssize_t",
        "sq": "Py_ssize_t", "flags": "bint", "first": "Py_UCS4", "found": "bint",
    }
    source = _source(scalars, np.zeros(3), 4, "a1")
    assert "total += _wb_sqrt(abs(v)) + _wb_np_exp(-v) + _wb_np_fabs(v)" in source
    assert "fl = _wb_floor(total)" in source and "sq = n * n" in source
    assert "flags = _wb_np_isnan(total) or _wb_isinf(hi)" in source


def test_loops_with_steps_enumerate_zip_while_and_early_returns_are_typed() -> None:
    inferred = _infer(everyday, np.zeros((3, 4, 2)), 2, "a b")
    assert not inferred.left
    assert inferred.locals["total"] == FLOAT  # an int accumulator receiving floats
    assert inferred.locals["k"] == INT and inferred.locals["words"] == INT
    assert inferred.locals["v"] == FLOAT and inferred.locals["a"] == FLOAT and inferred.locals["b"] == INT
    assert inferred.locals["ch"].decl == "Py_UCS4" and inferred.locals["inside"].decl == "bint"
    assert inferred.locals["out"].decl == "double[:, ::1]" and inferred.locals["counts"].decl == "int64_t[::1]"
    assert _infer(first_above, np.zeros(3), 0.5).returns == INT
    source = _source(everyday, np.zeros((3, 4, 2)), 2, "a b")
    assert "for _wb_k3 in range(_wb_range_len(_wb_start0, _wb_stop1, _wb_step2)):" in source
    assert "for i in range(nx - 1, -1, -1):" in source  # a literal step stays Cython's own C loop
    assert "total += _wb_np.asarray(best).sum() - _wb_np.asarray(counts).max()" in source  # NumPy's, read back


def test_a_strict_zip_checks_the_lengths_where_python_would() -> None:
    def dot(a, b):
        total = 0.0
        for x, y in zip(a, b, strict=True):
            total += x * y
        return total

    assert _infer(dot, np.zeros(3), np.zeros(3)).locals["x"] == FLOAT
    source = _source(dot, np.zeros(3), np.zeros(3))
    assert "    else:\n        if min(len(a), len(b)) != max(len(a), len(b)):" in source


def test_an_array_used_by_numpy_stays_typed_and_is_handed_over_as_an_array() -> None:
    def uses_array_methods(X, k):
        total = 0.0
        for i in range(k):
            total += X[i] * 2
        return total + X[1:].std()

    inferred = _infer(uses_array_methods, np.zeros(4), 2)
    assert inferred.params["X"].decl == "double[::1]" and inferred.locals["total"] == FLOAT
    assert "return total + _wb_np.asarray(X)[1:].std()" in _source(uses_array_methods, np.zeros(4), 2)


def test_what_would_change_meaning_stays_python_with_the_users_line_reason_and_fix() -> None:
    def rebinds(x):
        x = x - x.mean()
        return x[0]

    inferred = _infer(rebinds, np.zeros(3))
    why = inferred.left["x"]
    assert why.line == rebinds.__code__.co_firstlineno + 1
    assert "assigned a new value" in why.reason and "own name" in why.fix


# compiled for real ------------------------------------------------------------------

@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_the_textbook_matmul_is_fully_typed_and_verified(cc: str) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 7)), rng.normal(size=(7, 9))
    a.flags.writeable = False  # as a memory map or a datamart column would be
    result = _compiled(matmul, a, b)
    assert result.verified and result.variant == "fast"
    assert "def matmul__fast(const double[:, ::1] a not None, const double[:, ::1] b not None):" in (
        result.variant_source)  # only read, so read-only arrays are welcome
    assert not [t for t in result.typed if t.is_object]
    assert {t.name: t.decl for t in result.typed} == {
        "a": "double[:, ::1]", "b": "double[:, ::1]", "n": "Py_ssize_t", "m": "Py_ssize_t", "p": "Py_ssize_t",
        "out": "double[:, ::1]", "i": "Py_ssize_t", "j": "Py_ssize_t", "k": "Py_ssize_t", "acc": "double",
    }
    assert not [p for p in result.python_lines if p.in_loop]
    assert [p.text for p in result.python_lines] == ["out = np.zeros((n, p))", "return out"]
    out = result.function(a, b)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and np.allclose(out, a @ b)
    first = matmul.__code__.co_firstlineno  # Cython's annotation too, numbered with the user's lines
    numbers = {int(n) for n in re.findall(r'<span class="">(\d+)</span>:', result.annotated)}
    assert numbers == set(range(first, first + 11)) and "matmul__safe" not in result.annotated


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_every_other_idiom_compiles_and_gives_pythons_answers(cc: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(5, 6, 3))
    result = _compiled(
        everyday, X, 2, "the quick  brown\tfox", helpers=[first_above],
        recorded=[((X, 3, ""), {}), ((X, 0, "a"), {}), ((X, -1, "a b"), {})],
    )
    assert result.verified, result.first_failure
    assert not [t for t in result.typed if t.is_object]
    assert not [p for p in result.python_lines if p.in_loop]
    expected, actual = everyday(X, 2, "ab c"), result.function(X, 2, "ab c")
    assert np.array_equal(actual[0], expected[0]) and actual[0].dtype == expected[0].dtype
    assert np.array_equal(actual[1], expected[1]) and actual[1].dtype == np.int64
    assert actual[2] == pytest.approx(expected[2]) and actual[3:] == expected[3:]
    with pytest.raises(ValueError, match="must not be zero"):  # range's own error for a zero step
        result.function(X, 0, "")


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_what_stays_python_is_reported_in_the_users_lines_with_a_fix(cc: str) -> None:
    first = stays_python.__code__.co_firstlineno
    result = _compiled(stays_python, np.ones((4, 3)), 5, check=False)
    left = {t.name: t for t in result.still_python}
    assert set(left) == {"seen", "found", "best", "row", "v"}
    assert left["seen"].line == first + 1 and "bool array" in left["seen"].why and "uint8" in left["seen"].fix
    assert left["found"].line == first + 2 and "list" in left["found"].why and "np.zeros(n)" in left["found"].fix
    assert left["best"].line == first + 3 and "None" in left["best"].why
    assert left["row"].line == first + 4 and "2-D array" in left["row"].why and "range(X.shape[0])" in left["row"].fix
    assert left["v"].cause == "row"  # follows from row: fixing row types it
    assert [t.name for t in result.still_python][-1] == "v"  # consequences after the causes
    lines = {p.lineno: p for p in result.python_lines}
    assert lines[first + 5].text == "for v in row:" and lines[first + 5].in_loop
    assert "row is a Python object" in lines[first + 5].reason
    assert "hands X to Python as a NumPy array" in lines[first + 11].reason  # X.sum(), X stays typed
    text = str(result)
    assert f"stays_python.seen: line {first + 1}: np.zeros() makes a bool array" in text
    assert f"line {first + 5} (in a loop): for v in row:" in text
    assert "fix: use dtype=np.uint8" in text and "follows from row" in text
    assert f"line {first + 1}" in result._repr_html_()


def test_a_word_cython_reserves_is_refused_at_its_line() -> None:
    with pytest.raises(UnsupportedConstructError) as info:
        refactor(with_reserved_word, 1.0)
    assert info.value.line == with_reserved_word.__code__.co_firstlineno + 1
    assert "'include'" in info.value.reason and "rename" in info.value.reason


def test_compiler_errors_name_the_users_line_not_the_generated_one(cc: str) -> None:
    parsed = parse(first_above)
    inferred = infer(parsed, {"x": of_value(np.zeros(3))[0], "threshold": FLOAT}, {})
    module = generate([Typed(parsed, inferred)], {"safe": ""}, {}, "first_above")
    lines = module.source.splitlines()
    generated = next(n for n, text in enumerate(lines, 1) if text.strip() == "return i")
    lines[generated - 1] = lines[generated - 1].replace("return i", "return i +")  # what a bad rewrite would do
    with pytest.raises(CompileError) as info:
        build("\n".join(lines) + "\n")
    error = in_user_lines(info.value, module, {"first_above": parsed})
    line = first_above.__code__.co_firstlineno + 3
    assert error.line == line and f"first_above, line {line} (return i):" in error.message
    assert f":{generated}:" in error.output  # Cython's own output stays available, unchanged
