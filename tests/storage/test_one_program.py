"""The same program on every backend: register a model, run a one-cell job, put and get a
datamart, log and label a prediction, record a loop step. With Redis stopped, every step raises the one
:class:`StorageUnavailableError` within the store's timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.redis_server import RedisServer
from workbench.errors import StorageUnavailableError
from workbench.serving.predlog import open_prediction_log
from workbench.storage.prediction_store import PredictionRecord

TIMEOUT_S = 1.0


def _notebook(folder: Path) -> Path:
    nb = new_notebook(cells=[new_code_cell("import workbench as wb\nwb.record('answer', 42)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "one-cell.ipynb"
    nbformat.write(nb, path)
    return path


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def _steps(folder: Path) -> list[tuple[str, Callable[[], Any]]]:
    import workbench as wb

    def log_and_label() -> Any:
        log = open_prediction_log()
        try:
            log.append([PredictionRecord("req-1", "tiny", 1, "production", "0" * 64, 1, time.time(), 0.2)])
            return log.label("tiny", [("req-1", 1)]), log.live("tiny")
        finally:
            log.close()

    def loop_step() -> Any:
        from workbench.storage import open_storage
        from workbench.storage.loop_records import LoopEvent

        with open_storage() as storage:
            assert storage.loop.claim("tiny", "a-loop", 30)
            state = storage.loop.state("tiny")
            return storage.loop.commit(state, [LoopEvent("tiny", "paused", "by the program")], owner="a-loop")[0]

    return [
        ("register", lambda: wb.register(_model(), "tiny")),
        ("run a job", lambda: wb.jobs.run(_notebook(folder))),
        ("put a dataset", lambda: wb.datamart.put("rows", {"x": [1.0, 2.0]})),
        ("get a dataset", lambda: wb.datamart.get("rows", as_="numpy")),
        ("log and label", log_and_label),
        ("loop step", loop_step),
    ]


@pytest.mark.timeout(120)
def test_the_same_program_passes_on_every_backend(store_url: str, tmp_path: Path) -> None:
    results = dict((name, step()) for name, step in _steps(tmp_path))
    assert results["register"].version == 1
    assert results["run a job"].status == "succeeded" and results["run a job"].metrics == {"answer": 42}
    assert results["get a dataset"]["x"].tolist() == [1.0, 2.0]
    feedback, live = results["log and label"]
    assert (feedback.accepted, [(r.n, r.precision) for r in live]) == (1, [(1, 1.0)])
    assert (results["loop step"].revision, results["loop step"].events) == (1, 1)


@pytest.mark.timeout(120)
def test_with_redis_stopped_every_step_is_the_same_error_in_time(
    redis_store_down_soon: RedisServer, tmp_path: Path
) -> None:
    steps = _steps(tmp_path)
    for _, step in steps:  # everything works first, so the store has data to lose
        step()
    redis_store_down_soon.stop()
    for name, step in steps:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match="did not answer within 1 s"):
            step()
        assert time.monotonic() - started < TIMEOUT_S + 1, name
    redis_store_down_soon.start()
    import workbench as wb

    assert [v.version for v in wb.model_versions("tiny")] == [1]
    assert wb.datamart.get("rows", as_="numpy")["x"].tolist() == [1.0, 2.0]
