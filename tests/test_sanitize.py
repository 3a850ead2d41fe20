"""The shipped nbval sanitize file makes two runs of workbench output compare equal."""

import re
from collections.abc import Callable

import pytest
from nbval.plugin import get_sanitize_patterns

from workbench.notebooks import SANITIZE_FILE
from workbench.profiling import FunctionCost, HotLine, HotSpots
from workbench.stopwatch import TimerLog
from workbench.timing import Comparison, Timing, TimingHistory


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(SANITIZE_FILE.read_text()):
        text = re.sub(regex, replace, text)
    return text


def comparison(scale: float, noisy: bool) -> Comparison:
    spread = [1.0, 1.6, 0.7, 1.3, 0.9] if noisy else [1.0] * 5
    a = Timing("a()", [1e-4 * s for s in spread], loops=1000, label="a")
    b = Timing("b()", [scale * 1e-4 * s for s in spread], loops=37, label="b")
    lo, hi = (scale * 0.9, scale * 1.1)
    return Comparison({"a": a, "b": b}, {"b": (lo, hi)})


@pytest.mark.parametrize("form", [str, lambda c: c._repr_html_()])
def test_comparisons_from_two_runs_compare_equal(form: Callable[[Comparison], str]) -> None:
    first, second = comparison(11.1, noisy=False), comparison(9.87, noisy=True)
    assert form(first) != form(second)
    assert sanitize(form(first)) == sanitize(form(second))


def test_timings_and_history_from_two_runs_compare_equal() -> None:
    quiet = Timing("f()", [3.4e-4] * 7, loops=436, label="t", memory_peak=226_000)
    noisy = Timing("f()", [1.2e-3, 2e-3, 1e-3, 3e-3, 1.1e-3, 1.5e-3, 1.3e-3], loops=96, label="t", memory_peak=2_000)
    assert noisy.warnings and not quiet.warnings
    for form in (str, Timing._repr_html_):
        assert sanitize(form(quiet)) == sanitize(form(noisy))
    h1, h2 = TimingHistory(), TimingHistory()
    h1.add(quiet)
    h2.add(noisy)
    assert sanitize(str(h1)) == sanitize(str(h2))


def test_timer_log_and_hotspots_compare_equal() -> None:
    logs = []
    for seconds in (0.0123, 4.5):
        log = TimerLog()
        log.add("fit", seconds)
        logs.append(log)
    assert sanitize(str(logs[0])) == sanitize(str(logs[1]))
    spots = [
        HotSpots("f()", wall, [HotLine("f", "<ipython-input-1-x>", 3, 1000, wall * 0.9, wall * 0.8, 0.8)],
                 [FunctionCost("f", wall, wall * 0.8)])
        for wall in (0.039, 1.7)
    ]
    assert sanitize(str(spots[0])) == sanitize(str(spots[1]))


def test_ordinary_output_is_left_alone() -> None:
    text = "accuracy is high for 3 classes\nrun 7 finished"
    assert sanitize(text) == text
