"""The timing magics in a real IPython shell."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from tests.clocks import FakeClock
from workbench.errors import PerformanceRegression
from workbench.timing import Comparison, Timing, timers


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "workbench")
    clock = FakeClock()
    timers.register("fake", clock)
    ip.user_ns["clock"] = clock
    yield ip
    timers.unregister("fake")
    InteractiveShell.clear_instance()


def test_wtime_returns_a_timing_and_shows_it(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    result = shell.run_line_magic("wtime", "-o -n 10 -r 3 --timer fake clock.advance(0.002)")
    assert isinstance(result, Timing)
    assert (result.loops, len(result.runs), result.median) == (10, 3, pytest.approx(0.002))
    assert "2 ms per loop (median" in capsys.readouterr().out


def test_statement_text_is_kept_verbatim(shell: InteractiveShell) -> None:
    shell.user_ns["words"] = []
    result = shell.run_line_magic("wtime", "-o -q -n 1 -r 1 words.append('a  -b')")
    assert shell.user_ns["words"] == ["a  -b"]
    assert result.stmt == "words.append('a  -b')"


def test_cell_form_uses_the_first_line_as_setup(shell: InteractiveShell) -> None:
    result = shell.run_cell_magic("wtime", "-o -q -n 5 -r 2 --timer fake clock.advance(10)", "clock.advance(0.25)")
    assert result.median == pytest.approx(0.25)


def test_user_namespace_and_ipython_syntax_work(shell: InteractiveShell) -> None:
    shell.run_cell("data = list(range(100))")
    result = shell.run_line_magic("wtime", "-o -q -n 10 -r 2 sorted(data)")
    assert result.median > 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x = = 1", "cannot compile"),
        ("--frobnicate 1", "unknown option"),
        ("-n", "needs a value"),
        ("", "nothing to time"),
        ("--timer sundial pass", "no timer named 'sundial'"),
        ("--baseline never-saved pass", "no baseline named 'never-saved'"),
        ("--save-baseline ../x pass", "not allowed"),
    ],
)
def test_bad_usage_is_a_one_line_usage_error(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("wtime", line)


def test_exceptions_in_the_timed_code_propagate(shell: InteractiveShell) -> None:
    with pytest.raises(ZeroDivisionError):
        shell.run_line_magic("wtime", "1 / 0")


def test_baseline_regression_fails_the_cell(shell: InteractiveShell, isolated_environment: Path) -> None:
    shell.run_line_magic("wtime", "-q -n 10 -r 3 --timer fake --save-baseline fit clock.advance(0.001)")
    assert (isolated_environment / "baselines" / "fit.json").is_file()
    shell.run_line_magic("wtime", "-q -n 10 -r 3 --timer fake --baseline fit clock.advance(0.00105)")
    with pytest.raises(PerformanceRegression, match="beyond the 10% tolerance"):
        shell.run_line_magic("wtime", "-q -n 10 -r 3 --timer fake --baseline fit clock.advance(0.002)")
    shell.run_line_magic(
        "wtime", "-q -n 10 -r 3 --timer fake --baseline fit --tolerance 150% clock.advance(0.002)"
    )


def test_a_regression_fails_run_cell_too(shell: InteractiveShell) -> None:
    shell.run_line_magic("wtime", "-q -n 10 -r 3 --timer fake --save-baseline b clock.advance(0.001)")
    outcome = shell.run_cell("%wtime -q -n 10 -r 3 --timer fake --baseline b clock.advance(0.01)")
    assert isinstance(outcome.error_in_exec, PerformanceRegression)


def test_labelled_timings_build_the_history(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("wtime", "-q -n 2 -r 2 --timer fake --label first clock.advance(1)")
    shell.run_line_magic("wtime", "-q -n 2 -r 2 --timer fake --label second clock.advance(2)")
    capsys.readouterr()
    shell.run_line_magic("wtime", "--history")
    out = capsys.readouterr().out
    assert out.index("first") < out.index("second")
    assert "clock.advance(2)" in out


def test_memory_option_reports_peak(shell: InteractiveShell) -> None:
    result = shell.run_line_magic("wtime", "-o -q -n 1 -r 1 --memory bytearray(4_000_000)")
    assert result.memory_peak >= 4_000_000


def test_wcompare_parses_expressions_with_spaces_and_keywords(shell: InteractiveShell) -> None:
    shell.run_cell("def f(x, k=1):\n    clock.advance(0.001 * k)\n")
    result = shell.run_line_magic(
        "wcompare", "-o -q -n 3 -r 3 --timer fake one=f(1, k=1) three=f(1, k=3) two=f( 1 , k = 2 )"
    )
    assert isinstance(result, Comparison)
    assert result.names == ["one", "three", "two"]
    assert result.ratio("three") == pytest.approx(3.0)
    assert result.ratio("two") == pytest.approx(2.0)


def test_wcompare_cell_form(shell: InteractiveShell) -> None:
    body = "small=clock.advance(step)\nbig=clock.advance(step * 4)"
    result = shell.run_cell_magic("wcompare", "-o -q -n 2 -r 3 --timer fake step = 0.001", body)
    assert result.ratio("big") == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a=1", "at least two"),
        ("1 + 1", "name each candidate"),
        ("a=1 a=2", "named twice"),
        ("a= b=1", "no expression"),
    ],
)
def test_wcompare_bad_usage(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("wcompare", line)


def test_whot_names_the_notebook_function(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell(
        "def score(n):\n"
        "    hits = 0\n"
        "    for i in range(n):\n"
        "        hits += (i * 7919) % 3 == 0\n"
        "    return hits\n"
        "def pipeline():\n"
        "    return sorted([score(20000)])\n"
    )
    result = shell.run_line_magic("whot", "-o pipeline()")
    assert result.worth_refactoring == "score"
    assert "worth refactoring: score" in capsys.readouterr().out


def test_whot_usage_errors(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="no function named 'nope'"):
        shell.run_line_magic("whot", "-f nope pass")
    with pytest.raises(UsageError, match="nothing to profile"):
        shell.run_line_magic("whot", "")


def test_help_lists_the_options(shell: InteractiveShell) -> None:
    doc = shell.find_line_magic("wtime").__doc__
    for option in ("--baseline", "--tolerance", "--memory", "--label", "--timer", "-o"):
        assert option in doc


def test_wcompare_shows_speed_ups_on_a_log_axis(shell: InteractiveShell) -> None:
    import re

    from IPython.utils.capture import capture_output

    with capture_output() as shown:
        shell.run_line_magic(
            "wcompare", "-n 3 -r 3 --timer fake slow=clock.advance(0.001) fast=clock.advance(0.001/662)"
        )
    (html,) = [output.data["text/html"] for output in shown.outputs]
    assert "0.00151x (662x faster)" in html  # the table's ratio, in words too
    chart = html[html.index("<svg") :]
    assert ">reference</text>" in chart and ">662x faster</text>" in chart
    assert "median time per loop (log scale" in chart
    ticks = re.findall(r'text-anchor="middle" font-size="11" fill="currentColor">([^<]+)</text>', chart)
    assert ticks[:-1] == ["100 ns", "1 µs", "10 µs", "100 µs", "1 ms"]
    slow, fast = (float(w) for w in re.findall(r'<rect x="110" y="\d+" width="([\d.]+)"', chart))
    assert fast > slow / 5  # on a linear axis the faster bar would be 1/662 of the other: invisible
