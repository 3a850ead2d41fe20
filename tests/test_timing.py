from collections.abc import Iterator

import pytest

from tests.clocks import FakeClock
from workbench.errors import PluginNotFoundError, TimingError
from workbench.timing import Timing, TimingHistory, compare, measure, paired_bootstrap_ratio, timers


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    timers.register("fake", fake)
    yield fake
    timers.unregister("fake")


def test_loops_are_chosen_from_the_time_budget(clock: FakeClock) -> None:
    ns = {"clock": clock}
    timing = measure("clock.advance(0.001)", namespace=ns, timer="fake", run_seconds=0.2, repeat=5)
    assert timing.loops == 200  # 200 loops x 1 ms = the 0.2 s budget
    assert timing.runs == pytest.approx([0.001] * 5)
    assert timing.median == pytest.approx(0.001)
    assert timing.iqr == pytest.approx(0.0)
    assert timing.warnings == []


def test_median_ignores_one_slow_run_and_the_spread_is_flagged() -> None:
    steady = Timing("x", [1.0, 1.0, 1.01, 0.99, 50.0], loops=1)
    assert steady.median == 1.0
    assert steady.max == 50.0
    noisy = Timing("x", [1.0, 2.0, 3.0, 4.0, 5.0], loops=1)
    assert noisy.relative_spread == pytest.approx(2 / 3)
    assert "vary a lot" in noisy.warnings[0]
    assert "vary a lot" in str(noisy)
    assert "wb-warning" in noisy._repr_html_()


def test_fixed_loops_and_repeats_are_respected(clock: FakeClock) -> None:
    timing = measure("clock.advance(0.5)", namespace={"clock": clock}, timer="fake", number=3, repeat=4)
    assert (timing.loops, len(timing.runs)) == (3, 4)
    assert "4 runs x 3 loops" in str(timing)


def test_setup_is_not_timed(clock: FakeClock) -> None:
    ns = {"clock": clock}
    timing = measure("clock.advance(0.001)", "clock.advance(100)", namespace=ns, timer="fake", number=10, repeat=3)
    assert timing.median == pytest.approx(0.001)


def test_a_callable_can_be_measured() -> None:
    calls = []
    timing = measure(lambda: calls.append(1), number=5, repeat=2)
    assert len(calls) == 10
    assert timing.loops == 5


def test_exceptions_in_the_timed_code_propagate() -> None:
    with pytest.raises(ZeroDivisionError):
        measure("1 / 0", number=1, repeat=1)


def test_syntax_errors_become_timing_errors() -> None:
    with pytest.raises(TimingError, match="cannot compile"):
        measure("x = = 1")


def test_unknown_timer_names_the_installed_ones() -> None:
    with pytest.raises(PluginNotFoundError, match=r"available: .*cpu.*thread.*wall"):
        measure("pass", timer="sundial")


@pytest.mark.parametrize("timer", ["wall", "cpu", "thread"])
def test_builtin_timers_come_from_entry_points(timer: str) -> None:
    timing = measure("sum(range(50))", timer=timer, number=100, repeat=3)
    assert timing.timer == timer
    assert timing.median > 0


def test_memory_peak_is_measured_in_its_own_run() -> None:
    timing = measure("bytearray(8_000_000)", number=1, repeat=1, memory=True)
    assert timing.memory_peak is not None
    assert 8_000_000 <= timing.memory_peak < 9_000_000
    assert "peak memory 7.63 MiB" in str(timing)


def test_round_trip_through_plain_data(clock: FakeClock) -> None:
    timing = measure("clock.advance(0.002)", namespace={"clock": clock}, timer="fake", label="a")
    again = Timing.from_dict(timing.to_dict())
    assert again == timing


def test_compare_interleaves_candidates(clock: FakeClock) -> None:
    order: list[str] = []
    ns = {"clock": clock, "order": order}
    result = compare(
        {"a": "order.append('a'); clock.advance(0.001)", "b": "order.append('b'); clock.advance(0.003)"},
        namespace=ns,
        timer="fake",
        number=1,
        repeat=4,
    )
    assert order == ["a", "b"] * 4
    assert result.ratio("b") == pytest.approx(3.0)
    lo, hi = result.ratio_ci["b"]
    assert lo == pytest.approx(3.0) and hi == pytest.approx(3.0)
    assert result.fastest == "a"
    text = str(result)
    assert "reference" in text and "3x" in text
    assert '<svg class="wb-chart"' in result._repr_html_()


def test_compare_needs_two_candidates() -> None:
    with pytest.raises(TimingError, match="at least two"):
        compare({"only": "pass"})


def test_bootstrap_interval_contains_the_observed_ratio() -> None:
    ref = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02]
    other = [2.0 * r for r in ref]
    lo, hi = paired_bootstrap_ratio(ref, other)
    assert lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    noisy = [2.0, 2.6, 1.5, 2.2, 1.9, 2.4, 1.7]
    lo, hi = paired_bootstrap_ratio(ref, noisy)
    assert lo < 2.0 < hi
    assert paired_bootstrap_ratio(ref, noisy) == (lo, hi)  # seeded: the same interval each time


def test_history_keeps_the_latest_timing_per_label() -> None:
    history = TimingHistory()
    history.add(Timing("a()", [1.0], 1, label="a"))
    history.add(Timing("b()", [2.0], 1, label="b"))
    history.add(Timing("a2()", [3.0], 1, label="a"))
    assert list(history.entries) == ["b", "a"]
    assert "a2()" in str(history)
    with pytest.raises(TimingError):
        history.add(Timing("x", [1.0], 1))
