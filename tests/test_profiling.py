import textwrap
from pathlib import Path

import pytest

from workbench.errors import TimingError
from workbench.profiling import hotspots, is_user_code

SOURCE = textwrap.dedent(
    """
    import statistics

    def inner(v):
        s = 0
        for i in range(300):
            s += v * i
        return s

    def outer(n):
        total = 0
        for i in range(n):
            total += inner(i) % 7
        return statistics.mean([total, 1])
    """
)


@pytest.fixture
def user_module(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "project_code.py"
    path.write_text(SOURCE)
    ns: dict[str, object] = {"__name__": "project_code"}
    exec(compile(SOURCE, str(path), "exec"), ns)
    return ns


def test_names_the_function_whose_own_lines_take_the_time(user_module: dict[str, object]) -> None:
    # line_profiler's clock is the wall's: enough work that a busy machine's pause, charged to
    # whichever line was running, cannot outweigh inner's own lines
    result = hotspots("outer(1000)", namespace=user_module)
    assert result.worth_refactoring == "inner"
    top = result.lines[0]
    assert top.function == "inner"
    assert top.source in {"s += v * i", "for i in range(300):"}
    assert top.hits >= 300_000
    # the caller's line is charged its own time, not the callee's
    call_line = next(ln for ln in result.lines if ln.source == "total += inner(i) % 7")
    assert call_line.own < call_line.seconds
    assert "worth refactoring: inner" in str(result)
    assert "worth refactoring: <strong>inner</strong>" in result._repr_html_()


def test_library_code_is_not_profiled(user_module: dict[str, object]) -> None:
    result = hotspots("outer(50)", namespace=user_module)
    assert {ln.function for ln in result.lines} == {"inner", "outer"}
    assert not is_user_code(statistics_file())
    assert is_user_code("<ipython-input-3-abc>")
    assert not is_user_code("<string>")


def statistics_file() -> str:
    import statistics

    return statistics.__file__


def test_explicit_functions_skip_discovery(user_module: dict[str, object]) -> None:
    result = hotspots("outer(20)", namespace=user_module, functions=[user_module["outer"]])
    assert {ln.function for ln in result.lines} == {"outer"}


def test_errors_in_the_statement_propagate_and_syntax_is_checked(user_module: dict[str, object]) -> None:
    with pytest.raises(ZeroDivisionError):
        hotspots("1 / 0", namespace=user_module)
    with pytest.raises(TimingError):
        hotspots("outer(", namespace=user_module)


def test_nothing_to_refactor_when_no_user_function_runs() -> None:
    result = hotspots("sorted(range(1000))", namespace={})
    assert result.worth_refactoring is None
    assert "nothing to refactor" in str(result)
