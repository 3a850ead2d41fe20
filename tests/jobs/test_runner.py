"""Notebooks executed for real with papermill, in a real kernel."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

from tests.jobs.conftest import NotebookFactory
from tests.jobs.test_params import HOSTILE_VALUES
from tests.redis_server import RedisServer
from workbench.errors import BadParametersError, JobError, RunFailedError
from workbench.jobs import execution, run
from workbench.jobs.execution import BANNER_TAG, FAILED_TAG, NOT_RUN_TAG
from workbench.storage import open_storage
from workbench.storage.run_store import RunStore

pytestmark = pytest.mark.timeout(120)


def test_a_run_records_parameters_metrics_timers_and_output(make_notebook: NotebookFactory, store: RunStore) -> None:
    path = make_notebook(
        "train",
        "alpha = 1\nlabel = 'x'",
        "import workbench as wb\nwb.record('score', alpha * 0.5)\nwb.record('label', label)",
        "with wb.timer('fit'):\n    total = sum(range(1000))\nprint('done', alpha)",
    )
    result = run(path, {"alpha": 3, "label": "prod"})
    assert result.status == "succeeded"
    assert result.job == "train"
    assert result.metrics == {"score": 1.5, "label": "prod"}
    assert set(result.timers) == {"fit"}
    assert result.parameters == {"alpha": 3, "label": "prod"}
    assert result.libraries["papermill"] and result.libraries["python"]
    assert store.get_run(result.run_id) == result
    executed = nbformat.read(result.output, as_version=4)
    assert executed.metadata["workbench"]["status"] == "succeeded"
    assert executed.metadata["papermill"]["parameters"] == {"alpha": 3, "label": "prod"}
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected[0].source == "# Parameters\nalpha = 3\nlabel = 'prod'\n"
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "done 3" in printed
    shown = json.dumps(executed.cells[2].outputs)
    assert "recorded score = 1.5" in shown and "recorded label = 'prod'" in shown


def test_hostile_values_round_trip_and_run_no_code(make_notebook: NotebookFactory, tmp_path: Path) -> None:
    values = {f"v{i}": value for i, value in enumerate(HOSTILE_VALUES)}
    path = make_notebook(
        "fuzz",
        "\n".join(f"v{i} = ''" for i in range(len(values))),
        "import json, workbench as wb\n"
        f"wb.record('values', json.dumps([globals()[f'v{{i}}'] for i in range({len(values)})]))",
    )
    result = run(path, values)
    assert json.loads(result.metrics["values"]) == list(values.values())
    assert not list(tmp_path.rglob("pwned"))


def test_hostile_names_are_refused_before_any_kernel_starts(make_notebook: NotebookFactory, store: RunStore) -> None:
    path = make_notebook("p", "x = 1")
    with pytest.raises(BadParametersError) as info:
        run(path, {"x\nimport os": 1}, allow_new_params=True)
    refused = store.get_run(info.value.run_id)
    assert (refused.status, refused.reason, refused.output) == ("failed", "bad_parameters", None)
    assert info.value.exit_code == 3


def test_unknown_parameter_is_refused_unless_allowed(make_notebook: NotebookFactory) -> None:
    path = make_notebook("p", "x = 1", "import workbench as wb\nwb.record('y', y)")
    with pytest.raises(BadParametersError, match="unknown parameter 'y'; the notebook declares: x"):
        run(path, {"y": 2})
    assert run(path, {"y": 2}, allow_new_params=True).metrics == {"y": 2}


def executed(result_output: str | None) -> nbformat.NotebookNode:
    assert result_output is not None
    return nbformat.read(result_output, as_version=4)


@pytest.mark.parametrize(
    ("cells", "options", "reason", "exit_code"),
    [
        (("x = 1", "print('before')", "1 / 0", "print('never')"), {}, "cell_error", 4),
        (("x = 1", "print('before')", "import os\nos._exit(3)", "print('never')"), {}, "kernel_died", 5),
        (("x = 1", "print('before')", "import time\ntime.sleep(60)", "print('never')"), {"cell_timeout": 2},
         "timeout", 6),
        (("x = 1", "print('before')", "while True:\n    pass", "print('never')"), {"timeout": 4}, "timeout", 6),
        (("x = 1", "print('before')", "import sys\nsys.exit(0)", "print('never')"), {}, "exited", 7),
        (("x = 1", "print('before')", "raise SystemExit", "print('never')"), {}, "exited", 7),
        (("x = 1", "print('before')", "import sys\nsys.exit(3)", "print('never')"), {}, "exited", 7),
    ],
    ids=["raises", "kills-kernel", "cell-timeout", "notebook-timeout", "sys-exit-0", "raise-systemexit", "sys-exit-3"],
)
def test_failures_keep_a_marked_output_notebook(
    make_notebook: NotebookFactory,
    store: RunStore,
    cells: tuple[str, ...],
    options: dict[str, float],
    reason: str,
    exit_code: int,
) -> None:
    path = make_notebook("fails", *cells)
    with pytest.raises(RunFailedError) as info:
        run(path, **options)
    failed = info.value.fields["run"]
    assert (failed.status, failed.reason, info.value.exit_code) == ("failed", reason, exit_code)
    assert store.get_run(failed.run_id).reason == reason
    nb = executed(failed.output)
    assert nb.metadata["workbench"]["status"] == "failed"
    assert nb.metadata["workbench"]["reason"] == reason
    failing = nb.cells[failed.failed_cell]
    assert failing.source == cells[2]
    assert FAILED_TAG in failing.metadata["tags"]
    never = next(c for c in nb.cells if c.get("source") == "print('never')")
    assert NOT_RUN_TAG in never.metadata["tags"]
    assert not never.get("outputs")
    before = next(c for c in nb.cells if c.get("source") == "print('before')")
    assert before.outputs[0]["text"] == "before\n"
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    assert BANNER_TAG in tags or "papermill-error-cell-tag" in tags
    assert "injected-parameters" not in tags  # no -p given: no cell injected, the notebook's own numbering
    assert f"workbench runs open {failed.run_id}" in str(info.value)


def test_sys_exit_in_the_last_cell_is_a_success(make_notebook: NotebookFactory) -> None:
    path = make_notebook("last", "x = 1", "import workbench as wb\nwb.record('x', x)", "import sys\nsys.exit(0)")
    assert run(path).status == "succeeded"


def test_retries_make_new_runs_linked_to_the_first(make_notebook: NotebookFactory, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    path = make_notebook(
        "flaky",
        f"counter = {str(counter)!r}",
        "import os\nn = len(open(counter).read()) if os.path.exists(counter) else 0\n"
        "open(counter, 'a').write('x')\nassert n >= 1, 'first attempt fails'",
    )
    result = run(path, retries=2)
    assert result.status == "succeeded"
    assert result.retry_of is not None
    assert counter.read_text() == "xx"


def test_retries_give_up_with_the_last_failure(make_notebook: NotebookFactory, store: RunStore) -> None:
    path = make_notebook("broken", "x = 1", "raise ValueError('always')")
    with pytest.raises(RunFailedError, match="always") as info:
        run(path, retries=1)
    last = info.value.fields["run"]
    first = store.get_run(last.retry_of)
    assert first.reason == last.reason == "cell_error"
    assert len(store.list_runs("broken")) == 2


def test_missing_or_broken_notebook_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="no notebook at"):
        run(tmp_path / "missing.ipynb")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(JobError, match="not a readable notebook"):
        run(broken)


def test_unknown_kernel_names_the_installed_ones(make_notebook: NotebookFactory, store: RunStore) -> None:
    path = make_notebook("k", "x = 1")
    with pytest.raises(RunFailedError, match=r"no Jupyter kernel named 'cobol'; installed: .*python3") as info:
        run(path, kernel="cobol", retries=2)
    assert info.value.exit_code == 8
    (recorded,) = store.list_runs("k")  # never retried: no kernel would appear
    assert (recorded.status, recorded.reason, recorded.output) == ("failed", "kernel_unavailable", None)


@pytest.mark.parametrize(
    ("program", "said"),
    [("import time; time.sleep(120)", "Kernel didn't respond in 3 seconds"), ("raise SystemExit(3)", "Kernel died")],
)
def test_a_kernel_that_starts_but_never_answers_is_unavailable(
    make_notebook: NotebookFactory,
    store: RunStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    program: str,
    said: str,
) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "mute"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", program, "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "mute", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setattr(execution, "KERNEL_ANSWER_TIMEOUT_S", 3.0)
    path = make_notebook("mute", "x = 1")
    with pytest.raises(RunFailedError, match="kernel_unavailable") as info:
        run(path, kernel="mute", retries=2)
    assert info.value.exit_code == 8
    (recorded,) = store.list_runs("mute")  # not retried: the same kernel would not answer either
    assert (recorded.status, recorded.reason) == ("failed", "kernel_unavailable")
    assert recorded.error is not None and "the kernel 'mute' started but never answered" in recorded.error
    assert said in recorded.error


def test_a_run_on_the_redis_store_is_visible_to_other_machines(
    make_notebook: NotebookFactory, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, tmp_path: Path
) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", redis_server.url(prefix="jobs-e2e"))
    path = make_notebook("shared", "x = 1", "import workbench as wb\nwb.record('x', x)")
    result = run(path, {"x": 4})
    # another machine: same Redis, its own empty home folder
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "other-machine"))
    with open_storage() as other:
        seen = other.runs.get_run(result.run_id)
        assert seen.metrics == {"x": 4}
        local_copy = other.runs.output_path(result.run_id)
    assert local_copy.is_relative_to(tmp_path / "other-machine")
    assert nbformat.read(local_copy, as_version=4).metadata["workbench"]["run_id"] == result.run_id


def test_a_4_4_notebook_runs_without_validation_noise(
    tmp_path: Path, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {"tags": ["parameters"]}, "outputs": [],
             "source": "x = 1"},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": "import workbench as wb\nwb.record('x', x)"},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 4,
    }))
    with caplog.at_level("INFO"):
        result = run(path, {"x": 2})
    assert result.metrics == {"x": 2}
    assert "JSON is invalid" not in caplog.text
    out = executed(result.output)
    nbformat.validate(out)
    assert out.nbformat_minor == 5
