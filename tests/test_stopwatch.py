import threading
import time

from workbench.stopwatch import TimerLog, timer


def test_timer_as_context_manager_and_decorator() -> None:
    log = TimerLog()
    with timer("load", log=log):
        time.sleep(0.01)

    @timer("fit", log=log)
    def fit() -> int:
        return 42

    assert fit() == 42
    assert fit() == 42
    durations = log.durations()
    assert list(durations) == ["load", "fit"]
    assert durations["load"][0] >= 0.01
    assert len(durations["fit"]) == 2
    assert "fit" in str(log) and "2" in str(log)


def test_timer_records_even_when_the_block_raises() -> None:
    log = TimerLog()
    try:
        with timer("boom", log=log):
            raise ValueError("x")
    except ValueError:
        pass
    assert len(log.durations()["boom"]) == 1


def test_one_timer_object_used_from_many_threads() -> None:
    log = TimerLog()
    shared = timer("work", log=log)

    @shared
    def work() -> None:
        time.sleep(0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log.durations()["work"]) == 8
    assert all(d >= 0.001 for d in log.durations()["work"])
