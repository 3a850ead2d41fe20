"""wb.cythonize: inference, generated code, real compiles, the check, the cache, export.

Compiled results are shared through one build cache for the whole session (the
``cython_home`` fixture), so each kernel compiles once however many tests use it.
"""

from __future__ import annotations

import ast
import math
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import require_executable
from workbench.config import load_settings
from workbench.cythonize import Refactoring, export, record, refactor
from workbench.cythonize.analysis import parse
from workbench.cythonize.build import OPTIMIZE_ENV, build, cache_key, compile_flags, compiler
from workbench.cythonize.check import Case, Outcome, difference, generated_cases, value_difference
from workbench.cythonize.infer import infer
from workbench.cythonize.typesys import BOOL, FLOAT, INT, OBJECT, STR, of_value, unify
from workbench.errors import CompileError, ConfigError, CythonizeError, EquivalenceError, UnsupportedConstructError

COMPILE_TIMEOUT = 180


@pytest.fixture(scope="session")
def cython_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cythonize-home"


@pytest.fixture(autouse=True)
def shared_cache(isolated_environment: Path, cython_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("WORKBENCH_HOME", str(cython_home))
    # what is built and checked does not depend on gcc's level; -O0 builds about five times faster
    monkeypatch.setenv(OPTIMIZE_ENV, "0")
    yield cython_home


# kernels, plain Python ----------------------------------------------------------------

def sum_sq(xs):
    total = 0
    for x in xs:
        total += x * x
    return total


def pairwise(X):
    n = X.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            s = 0.0
            for k in range(X.shape[1]):
                diff = X[i, k] - X[j, k]
                s += diff * diff
            out[i, j] = math.sqrt(s)
    return out


def pow3(n):
    p = 1
    for _ in range(n):
        p *= 3
    return p


def lag_product(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i - 1] * x[i]
    return s


def safe_ratio(a, b):
    return a // b


def sq_dist(a, b, i, j):
    s = 0.0
    for k in range(a.shape[1]):
        d = a[i, k] - b[j, k]
        s += d * d
    return s


def nearest(X, Y):
    best = np.zeros(X.shape[0], dtype=np.int64)
    for i in range(X.shape[0]):
        best_d = math.inf
        for j in range(Y.shape[0]):
            d = sq_dist(X, Y, i, j)
            if d < best_d:
                best_d = d
                best[i] = j
    return best


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def root_sum(xs):
    t = 0.0
    for x in xs:
        t += math.sqrt(x)
    return t


X2 = np.random.default_rng(0).normal(size=(30, 3))
Y2 = np.random.default_rng(1).normal(size=(20, 3))


@pytest.fixture(scope="session")
def cc() -> str:
    """The C compiler: compile tests skip without one locally and fail on CI."""
    return require_executable(compiler()[0])


@pytest.fixture(scope="module")
def sum_sq_result(cython_home: Path, cc: str) -> Refactoring:
    # module-scoped, so set up before the per-test home: point it at the shared cache itself
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_HOME", str(cython_home))
        patch.setenv(OPTIMIZE_ENV, "0")
        return refactor(sum_sq, np.linspace(0, 1, 200), repeat=3)


# type inference (no compiler) -------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "decl"),
    [
        (True, "bint"),
        (3, "Py_ssize_t"),
        (np.int64(3), "Py_ssize_t"),
        (2.5, "double"),
        ("abc", "str"),
        (np.zeros((3, 4)), "double[:, ::1]"),
        (np.asfortranarray(np.zeros((3, 4))), "double[::1, :]"),
        (np.zeros((6, 4))[::2], "double[:, :]"),
        (np.zeros(3, dtype=np.int32), "int32_t[::1]"),
        ([1.0, 2.0], "double[::1]"),
        ([1, 2], "int64_t[::1]"),
        (2**70, "object"),
        ([1, "a"], "object"),
        (object(), "object"),
    ],
)
def test_sample_values_give_argument_types(value: object, decl: str) -> None:
    assert of_value(value)[0].decl == decl


def test_unify_promotes_int_to_float_and_keeps_other_mixes_as_objects() -> None:
    assert unify(INT, FLOAT) == FLOAT
    assert unify(None, BOOL) == BOOL
    assert unify(INT, STR) == OBJECT


def _infer(func: Callable[..., Any], *args: Any) -> Any:
    parsed = parse(func)
    names = parsed.func.__code__.co_varnames
    return infer(parsed, {name: of_value(v)[0] for name, v in zip(names, args, strict=False)}, {})


def test_locals_are_typed_from_their_assignments() -> None:
    inferred = _infer(pairwise, X2)
    assert {n: t.decl for n, t in inferred.locals.items()} == {
        "n": "Py_ssize_t", "out": "double[:, ::1]", "i": "Py_ssize_t", "j": "Py_ssize_t",
        "k": "Py_ssize_t", "s": "double", "diff": "double",
    }
    assert inferred.returns.describe() == "float64 array, 2-D"


def test_an_int_accumulator_of_floats_becomes_a_double() -> None:
    inferred = _infer(sum_sq, np.zeros(3))
    assert inferred.locals["total"] == FLOAT
    assert inferred.locals["x"] == FLOAT


def levenshtein(a, b):
    n = len(b)
    prev = [0] * (n + 1)
    cur = [0] * (n + 1)
    for j in range(n + 1):
        prev[j] = j
    for i in range(1, len(a) + 1):
        cur[0] = i
        for j in range(1, n + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev, cur = cur, prev
    return prev[n]


def test_local_lists_of_one_number_become_arrays_and_swap() -> None:
    inferred = _infer(levenshtein, "kitten", "sitting")
    assert inferred.locals["prev"].decl == inferred.locals["cur"].decl == "int64_t[::1]"
    assert inferred.locals["cost"] == INT
    assert inferred.returns == INT


def test_a_returned_local_list_stays_a_list() -> None:
    def ones(n):
        out = [1.0] * n
        out[0] = 2.0
        return out

    inferred = _infer(ones, 3)
    assert "out" not in inferred.locals and "returned" in inferred.left["out"].reason


def test_math_constants_are_doubles() -> None:
    def smallest(xs):
        best = math.inf
        for x in xs:
            if x < best:
                best = x
        return best

    assert _infer(smallest, np.zeros(3)).locals["best"] == FLOAT


def test_string_indexing_gives_characters() -> None:
    def first_diff(a, b):
        for i in range(min(len(a), len(b))):
            ca = a[i]
            if ca != b[i]:
                return i
        return -1

    inferred = _infer(first_diff, "abc", "abd")
    assert inferred.locals["ca"].decl == "Py_UCS4"
    assert inferred.locals["i"] == INT


# unsupported constructs ---------------------------------------------------------------

def gen(n):
    for i in range(n):
        yield i * i


def star(*values):
    return len(values)


COUNTER = []


def rebinding(n):
    global COUNTER
    COUNTER = n
    return n


def reads_notebook_list(n):
    return len(COUNTER) + n


def make_closure() -> Callable[[int], int]:
    total = 0

    def add(n):
        nonlocal total
        total += n
        return total

    return add


@pytest.mark.parametrize(
    ("func", "line_offset", "reason"),
    [
        (gen, 2, "generator"),
        (star, 0, "*values"),
        (rebinding, 1, "global COUNTER"),
        (reads_notebook_list, 1, "notebook variable 'COUNTER'"),
        (make_closure(), 0, "closure"),
        (lambda x: x, 0, "lambda"),
    ],
)
def test_unsupported_constructs_name_the_line_and_the_reason(
    func: Callable[..., Any], line_offset: int, reason: str
) -> None:
    with pytest.raises(UnsupportedConstructError) as info:
        refactor(func, 3, speedup=False)
    assert info.value.line == func.__code__.co_firstlineno + line_offset
    assert reason in info.value.reason
    assert f"line {info.value.line}" in str(info.value)


def test_no_sample_is_an_error_that_says_how_to_give_one() -> None:
    with pytest.raises(CythonizeError, match="--sample"):
        refactor(sum_sq)


def test_errors_pickle_with_their_fields() -> None:
    err = EquivalenceError("differs", function="f", case="f(3)", expected="1", actual="2")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.case, copy.expected, copy.actual) == ("f(3)", "1", "2")


# the equivalence rules (no compiler) ------------------------------------------------

def test_values_compare_exactly_for_ints_and_within_tolerance_for_floats() -> None:
    assert value_difference(3, 3) is None
    assert value_difference(2**64, 0) is not None
    assert value_difference(1.0, 1.0 + 1e-12) is None
    assert value_difference(1.0, 1.001) is not None
    assert value_difference(np.array([1, 2]), np.array([1, 3])) == "integer arrays differ"
    assert value_difference(np.array([1.0, np.nan]), np.array([1.0, np.nan])) is None
    assert value_difference((1, 2.0), [1, 2.0]) is not None
    assert difference(Outcome(error=ValueError), Outcome(error=ValueError)) is None
    assert difference(Outcome(error=ValueError), Outcome(value=1.0)) is not None


def test_generated_cases_keep_types_shapes_and_layout() -> None:
    sample = Case("sample", (np.asfortranarray(np.ones((4, 3))), 10, "kitten"))
    cases = generated_cases(sample, 4, seed=1)
    assert len(cases) == 4
    for case in cases:
        array, n, text = case.args
        assert array.shape == (4, 3) and array.flags.f_contiguous and array.dtype == np.float64
        assert isinstance(n, int) and 5 <= n <= 10
        assert isinstance(text, str) and set(text) <= set("kitten")
    assert generated_cases(sample, 2, seed=1)[0].args[1] == cases[0].args[1]


def test_recorder_keeps_copies_of_the_first_calls_only() -> None:
    recorder = record(sum_sq, 2)
    data = [1.0, 2.0]
    assert recorder(data) == 5.0
    data.append(3.0)
    recorder([4.0])
    recorder([5.0])
    assert recorder.calls == [(([1.0, 2.0],), {}), (([4.0],), {})]
    assert recorder.done and recorder.__name__ == "sum_sq"


# compiled for real -------------------------------------------------------------------

@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_sum_of_squares_is_typed_verified_and_faster(sum_sq_result: Refactoring) -> None:
    result = sum_sq_result
    assert result.verified
    assert result.variant == "fast"
    assert "def sum_sq__fast(const double[::1] xs not None):" in result.variant_source
    assert "cdef double total" in result.variant_source
    assert result.function(np.arange(4.0)) == 14.0
    assert result.speedup is not None and result.speedup > 2
    assert result.python_lines == [] or all("return" in p.text for p in result.python_lines)
    assert "verified on 7 cases (1 sample, 0 recorded, 6 generated)" in str(result)
    assert "at -O0, from $WORKBENCH_CYTHONIZE_OPTIMIZE" in str(result)  # a test build, not a measured one
    html = result._repr_html_()
    assert '<span class="wb-v">' in html and "sum_sq" in html
    assert "score-" in result.annotation_html


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_a_warm_cache_hit_imports_in_well_under_100_ms(sum_sq_result: Refactoring, cython_home: Path) -> None:
    again = refactor(sum_sq, np.linspace(0, 1, 200), speedup=False)
    assert again.build.cache_hit and again.build.key == sum_sq_result.build.key
    assert again.build.seconds < 0.1
    # in a fresh process, where the extension is not loaded yet
    code = textwrap.dedent(
        f"""
        import numpy, sys
        from workbench.cythonize.build import build
        source = open({str(sum_sq_result.build.pyx_path)!r}).read()
        b = build(source)
        print(b.cache_hit, b.seconds)
        """
    )
    env = {**os.environ, "WORKBENCH_HOME": str(cython_home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    hit, seconds = out.stdout.split()
    assert hit == "True" and float(seconds) < 0.1, out.stdout


def test_the_optimization_level_comes_from_the_environment_then_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.workbench.cythonize]\noptimize = 1\n")
    settings = load_settings(cwd=tmp_path, environ={})
    assert compile_flags(settings, environ={})[0] == "-O1"
    assert compile_flags(settings, environ={OPTIMIZE_ENV: "0"})[0] == "-O0"
    assert compile_flags(load_settings(cwd=tmp_path.parent, environ={}), environ={})[0] == "-O3"
    with pytest.raises(ConfigError, match=r"\$WORKBENCH_CYTHONIZE_OPTIMIZE must be 0, 1, 2 or 3, not 'fast'"):
        compile_flags(settings, environ={OPTIMIZE_ENV: "fast"})
    (tmp_path / "pyproject.toml").write_text("[tool.workbench.cythonize]\noptimize = true\n")
    with pytest.raises(ConfigError, match=r"optimize in \[tool.workbench.cythonize\] must be 0, 1, 2 or 3"):
        compile_flags(load_settings(cwd=tmp_path, environ={}), environ={})


def test_the_cache_key_covers_source_flags_and_versions() -> None:
    base = cache_key("x = 1\n")
    assert cache_key("x = 2\n") != base
    assert cache_key("x = 1\n", ("-O3",)) != base
    assert cache_key("x = 1\n") == base


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_two_d_arrays_math_and_local_arrays(cc: str) -> None:
    result = refactor(pairwise, X2, repeat=3)
    assert result.verified
    out = result.function(X2)
    assert isinstance(out, np.ndarray) and out.shape == (30, 30)
    assert np.allclose(out, pairwise(X2))
    assert "_wb_sqrt(s)" in result.variant_source
    assert result.speedup is not None and result.speedup > 5


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_lists_of_floats_are_read_as_arrays_at_the_boundary(sum_sq_result: Refactoring) -> None:
    result = refactor(sum_sq, [0.5, 1.5, 2.5], speedup=False)
    assert result.verified
    assert "cdef double[::1] _wb_xs = _wb_list_array(xs, 'float64')" in result.variant_source
    assert result.function([1.0, 2.0]) == 5.0
    assert result.function([]) == 0
    for strings in (["1.5"], [1.0, "a"]):
        with pytest.raises(TypeError):
            result.function(strings)


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_recursive_calls_go_to_the_compiled_version(cc: str) -> None:
    result = refactor(fib, 12, speedup=False)
    assert result.verified
    assert "return fib__fast(n - 1) + fib__fast(n - 2)" in result.variant_source
    assert result.function(20) == 6765


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_math_functions_keep_pythons_errors(cc: str) -> None:
    result = refactor(root_sum, np.linspace(1, 2, 5), speedup=False)
    assert result.verified
    with pytest.raises(ValueError, match="math domain error"):
        result.function(np.array([1.0, -1.0]))


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_helpers_compile_alongside_with_typed_arguments(cc: str) -> None:
    result = refactor(nearest, X2, Y2, helpers=[sq_dist], speedup=False)
    assert result.verified
    assert "cpdef double sq_dist__fast(const double[:, ::1] a, const double[:, ::1] b, Py_ssize_t i, Py_ssize_t j)" in (
        result.module_source
    )
    assert np.array_equal(result.function(X2, Y2), nearest(X2, Y2))


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_an_overflow_on_a_recorded_call_blocks_the_compiled_version(cc: str) -> None:
    result = refactor(pow3, 5, recorded=[((50,), {})], speedup=False)
    assert not result.verified
    failure = result.first_failure
    assert failure is not None and failure.case.label == "recorded #1"
    with pytest.raises(EquivalenceError) as info:
        result.function  # noqa: B018
    assert info.value.case == "pow3(50)"
    assert info.value.expected == repr(3**50)
    assert "DIFFERS on recorded #1" in str(result)
    with pytest.raises(EquivalenceError):
        export(result, "pow3_fast.pyx")
    assert not Path("pow3_fast.pyx").exists()


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_negative_indices_keep_wraparound_and_bounds_checks(cc: str) -> None:
    result = refactor(lag_product, np.linspace(0, 1, 50), speedup=False)
    assert result.verified
    assert result.variant == "safe"
    assert any("wraparound kept" in note for note in result.directive_notes)
    assert math.isclose(result.function(np.arange(3.0)), lag_product(np.arange(3.0)))


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_exceptions_must_match_and_division_by_zero_keeps_python_division(cc: str) -> None:
    result = refactor(safe_ratio, 7, 2, recorded=[((1, 0), {}), ((-7, 2), {})], speedup=False)
    assert result.verified
    assert result.variant == "fast_pydiv"
    assert any("divides by zero" in note for note in result.directive_notes)
    with pytest.raises(ZeroDivisionError):
        result.function(1, 0)
    assert result.function(-7, 2) == -4


def test_compile_errors_raise_with_the_compiler_output(cc: str) -> None:
    with pytest.raises(CompileError) as info:
        build("def broken(:\n    pass\n")
    assert info.value.stage == "Cython"
    assert "broken" in info.value.output or "Expected" in info.value.output


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_export_writes_a_module_a_job_can_build_and_import(sum_sq_result: Refactoring, tmp_path: Path) -> None:
    paths = [Path(p) for p in sum_sq_result.export(str(tmp_path / "fast_sum.pyx"))]
    assert [p.name for p in paths] == ["fast_sum.pyx", "build_fast_sum.py"]
    source = paths[0].read_text()
    assert "def sum_sq(const double[::1] xs not None):" in source and "__fast" not in source
    ast.parse(paths[1].read_text())
    subprocess.run(
        [sys.executable, str(paths[1]), "build_ext", "--inplace"], cwd=tmp_path, check=True,
        capture_output=True, timeout=COMPILE_TIMEOUT,
    )
    job = "import numpy, fast_sum; print(fast_sum.sum_sq(numpy.arange(4.0)))"
    out = subprocess.run([sys.executable, "-c", job], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "14.0"
