"""%cythonize in a real IPython InteractiveShell."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from workbench.cythonize import Refactoring
from workbench.cythonize.build import OPTIMIZE_ENV
from workbench.errors import EquivalenceError, UnsupportedConstructError

COMPILE_TIMEOUT = 180

CELL = '''
import numpy as np

def sum_sq(xs):
    total = 0
    for x in xs:
        total += x * x
    return total

def pow3(n):
    p = 1
    for _ in range(n):
        p *= 3
    return p

def sq_dist(a, b, i, j):
    s = 0.0
    for k in range(a.shape[1]):
        d = a[i, k] - b[j, k]
        s += d * d
    return s

def nearest(X, Y):
    best = np.zeros(X.shape[0], dtype=np.int64)
    for i in range(X.shape[0]):
        best_d = 1e300
        for j in range(Y.shape[0]):
            d = sq_dist(X, Y, i, j)
            if d < best_d:
                best_d = d
                best[i] = j
    return best

def squares():
    for i in range(3):
        yield i * i

xs = np.linspace(0, 1, 200)
'''


@pytest.fixture(scope="session")
def cython_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cythonize-home"


@pytest.fixture
def shell(isolated_environment: Path, cython_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("WORKBENCH_HOME", str(cython_home))
    monkeypatch.setenv(OPTIMIZE_ENV, "0")  # builds about five times faster; what is built does not change
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "workbench")
    assert shell.run_cell(CELL).success
    yield shell
    InteractiveShell.clear_instance()


def magic(shell: InteractiveShell, line: str) -> Refactoring | None:
    result: Refactoring | None = shell.run_line_magic("cythonize", line)
    return result


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_replace_rebinds_the_name_to_the_checked_compiled_function(shell: InteractiveShell) -> None:
    python = shell.user_ns["sum_sq"]
    result = magic(shell, '-o -q sum_sq --sample "sum_sq(xs)" --replace')
    assert result is not None and result.verified and result.replaced
    assert shell.user_ns["sum_sq"] is result.compiled is not python
    assert shell.user_ns["sum_sq"](shell.user_ns["xs"]) == pytest.approx(python(shell.user_ns["xs"]))
    assert "now runs the compiled version" in str(result)


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_recorded_calls_type_and_check_the_function(shell: InteractiveShell) -> None:
    assert magic(shell, "--record 2 sum_sq") is None
    assert shell.run_cell("sum_sq(xs[:10]); sum_sq(xs[:20]); sum_sq(xs)").success
    result = magic(shell, "-o -q sum_sq")
    assert result is not None and result.verified
    assert result.results is not None
    assert [r.case.label for r in result.results[:3]] == ["sample", "recorded #1", "recorded #2"]
    assert not hasattr(shell.user_ns["sum_sq"], "calls")  # recording is over


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_a_differing_case_blocks_replace_and_keeps_the_python_function(shell: InteractiveShell) -> None:
    magic(shell, "--record 1 pow3")
    assert shell.run_cell("pow3(50)").success
    python = shell.user_ns["pow3"].func
    with pytest.raises(EquivalenceError, match=r"pow3\(50\)"):
        magic(shell, '-q pow3 --sample "pow3(5)" --replace')
    assert shell.user_ns["pow3"] is python


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_helpers_compile_with_with_and_export_writes_the_module(shell: InteractiveShell) -> None:
    shell.run_cell("X = np.random.default_rng(0).normal(size=(20, 3)); Y = X[::2].copy()")
    with pytest.raises(UnsupportedConstructError, match="--with sq_dist"):
        magic(shell, '-q nearest --sample "nearest(X, Y)"')
    result = magic(shell, '-o -q nearest --sample "nearest(X, Y)" --with sq_dist --export fast_nearest.pyx')
    assert result is not None and result.verified
    assert result.exported == ["fast_nearest.pyx", "build_fast_nearest.py"]
    assert "cpdef double sq_dist(" in Path("fast_nearest.pyx").read_text()


def test_unsupported_code_raises_and_leaves_the_function(shell: InteractiveShell) -> None:
    python = shell.user_ns["squares"]
    with pytest.raises(UnsupportedConstructError, match="generator") as info:
        magic(shell, '-q squares --sample "squares()"')
    assert info.value.line == python.__code__.co_firstlineno + 2  # the yield
    assert shell.user_ns["squares"] is python


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sum_sq", "needs a sample call"),
        ("missing --sample 'missing(1)'", "no function named 'missing'"),
        ("sum_sq --sample 'other(xs)'", "must call sum_sq"),
        ("sum_sq --sample 'sum_sq(*xs)'", "without \\* or \\*\\*"),
        ("--record 0 sum_sq", "at least 1"),
        ("np --sample 'np(1)'", "not a Python function"),
    ],
)
def test_bad_usage_is_a_usage_error(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        magic(shell, line)


def test_loading_the_extension_does_not_import_cython() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'workbench')\n"
        "print('Cython' in sys.modules, 'workbench.cythonize' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


USER_CELL = '''def matmul(a, b):
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

def flags(X, n):
    seen = np.zeros(n, dtype=bool)
    count = 0
    for i in range(n):
        if not seen[i]:
            count += 1
    return count + X.shape[0]

def bad_name(x):
    include = x + 1
    return include

A = np.arange(12.0).reshape(3, 4)
B = np.ones((4, 5))
'''


@pytest.mark.timeout(COMPILE_TIMEOUT)
def test_the_magic_types_matmul_and_speaks_in_the_cells_line_numbers(shell: InteractiveShell) -> None:
    assert shell.run_cell(USER_CELL).success
    result = magic(shell, '-o -q matmul --sample "matmul(A, B)"')
    assert result is not None and result.verified
    assert not result.still_python and not [p for p in result.python_lines if p.in_loop]
    assert "  line 4: out = np.zeros((n, p))" in str(result)  # line 4 of the cell, not of the generated code
    report = magic(shell, '-o -q flags --sample "flags(A, 4)" --no-check')
    assert report is not None
    text = str(report)
    assert "flags.seen: line 14: np.zeros() makes a bool array" in text
    assert "line 17 (in a loop): if not seen[i]:" in text
    assert "fix: use dtype=np.uint8 for flags (0 and 1)" in text
    with pytest.raises(UnsupportedConstructError, match="line 22: the name 'include' is a word Cython reserves"):
        magic(shell, '-q bad_name --sample "bad_name(1.0)"')
