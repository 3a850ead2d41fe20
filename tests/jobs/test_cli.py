"""``workbench run | runs | schedule``: flags reach the API; real subprocess runs for exit codes."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import NotebookFactory
from workbench.cli import main
from workbench.jobs import runner
from workbench.jobs.cancel import Cancellation
from workbench.storage.run_records import Run

pytestmark = pytest.mark.timeout(120)


def test_every_run_flag_reaches_the_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(notebook: str, parameters: dict[str, Any], **options: Any) -> Run:
        seen.update(notebook=notebook, parameters=parameters, **options)
        return Run("r1", "job", notebook, status="succeeded")

    monkeypatch.setattr(runner, "run", fake_run)
    params = tmp_path / "p.yaml"
    params.write_text("a: 1\nb: from-file\n")
    code = main([
        "run", "nb.ipynb", "-f", str(params), "-y", "b: [1, 2]\ne: no", "-p", "c", "0.5", "-r", "d", "007",
        "-p", "e", "no", "-p", "f", "010",
        "--name", "nightly", "--timeout", "60", "--cell-timeout", "5", "--retries", "2", "--kernel", "py",
        "--allow-new-params", "--run-id", "given-id", "--on", "ipcontroller-client.json",
    ])
    assert code == 0
    assert seen == {
        "notebook": "nb.ipynb",
        "parameters": {"a": 1, "b": [1, 2], "c": 0.5, "d": "007", "e": "no", "f": 10},
        "name": "nightly",
        "timeout": 60.0,
        "cell_timeout": 5.0,
        "retries": 2,
        "kernel": "py",
        "allow_new_params": True,
        "cancel": seen["cancel"],
        "run_id": "given-id",
        "on": "ipcontroller-client.json",
    }
    assert isinstance(seen["cancel"], Cancellation)
    assert "r1" in capsys.readouterr().out


def workbench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=90
    )


def test_exit_codes_and_history_from_real_runs(make_notebook: NotebookFactory, tmp_path: Path) -> None:
    ok = make_notebook("ok", "x = 1", "import workbench as wb\nwb.record('double', x * 2)")
    bad = make_notebook("bad", "x = 1", "raise RuntimeError('boom')")
    done = workbench("run", str(ok), "-p", "x", "21", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "metric double  42" in done.stdout
    failed = workbench("run", str(bad), cwd=tmp_path)
    assert failed.returncode == 4
    assert "RuntimeError: boom" in failed.stderr
    refused = workbench("run", str(ok), "-p", "y", "1", cwd=tmp_path)
    assert refused.returncode == 3
    assert "unknown parameter 'y'" in refused.stderr

    table = workbench("runs", cwd=tmp_path)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert "failed (bad_parameters)" in lines[2] and "failed (cell_error)" in lines[3] and "double=42" in lines[4]
    run_id = lines[4].split()[0]
    shown = workbench("runs", "show", run_id, cwd=tmp_path)
    assert "parameter x" in shown.stdout and "21" in shown.stdout
    opened = workbench("runs", "open", run_id, cwd=tmp_path)
    assert Path(opened.stdout.strip()).is_file()
    missing = workbench("runs", "show", "20000101-000000-000000", cwd=tmp_path)
    assert missing.returncode == 1 and "no run" in missing.stderr


def test_help_params_lists_declared_parameters(
    make_notebook: NotebookFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_notebook("p", "alpha = 0.5  # learning rate\nname: str = 'x'\nlayers = [1, 2]")
    assert main(["run", str(path), "--help-params"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "0.5" in out and "learning rate" in out
    assert "layers" in out and "list" in out


def test_schedule_commands(make_notebook: NotebookFactory, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_notebook("s", "x = 1\ntext = ''", "import workbench as wb\nwb.record('x', x)")
    assert main(["schedule", "add", "every5", str(path), "--cron", "*/5 * * * *", "-p", "x", "7",
                 "-r", "text", "100% 'sure'"]) == 0
    assert main(["schedule", "list"]) == 0
    assert "every5" in capsys.readouterr().out
    assert main(["schedule", "export", "--crontab"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("*/5 * * * * workbench run ")
    assert "-p x 7" in line and "\\%" in line and "%" not in line.replace("\\%", "")
    assert main(["schedule", "run-now", "every5"]) == 0
    run_id = capsys.readouterr().out.split()[1]
    assert main(["schedule", "list"]) == 0
    assert f"{run_id} succeeded" in capsys.readouterr().out
    assert main(["schedule", "remove", "every5"]) == 0
    assert main(["schedule", "remove", "every5"]) == 1
    assert main(["schedule", "add", "bad", str(path), "--cron", "every day"]) == 1
    assert "not a cron expression" in capsys.readouterr().err


def test_crontab_lines_give_the_schedule_parameters_back_exactly() -> None:
    import shlex

    from workbench.cli import build_parser
    from workbench.jobs.cli import _parameters
    from workbench.jobs.schedule_cli import crontab_lines
    from workbench.storage.schedule_records import Schedule

    values = {"a": [1, "no", 0.5], "b": 0.1, "c": True, "d": "010", "e": None, "f": {"k": "12:30"}, "g": 10**20}
    (line,) = crontab_lines([Schedule("s", "nb.ipynb", "0 3 * * *", values)])
    argv = shlex.split(line.removeprefix("0 3 * * * ").replace("\\%", "%"))[1:]
    assert _parameters(build_parser().parse_args(argv)) == values


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"cells": [], "nbformat": 4, "nbformat_minor": 5}', "lacks 'metadata'"),
        (b"hello", "not JSON"),
        (b"[1, 2]", "the JSON is a list"),
        (b'{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "missing"),
        (b'{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}', "version 3"),
        (b"\xff\xfe", "can't decode"),
    ],
    ids=["no-metadata", "not-json", "a-list", "bad-cell", "v3-without-metadata", "not-utf8"],
)
def test_malformed_notebooks_get_one_line(
    content: bytes, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "odd.ipynb"
    path.write_bytes(content)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "is not a readable notebook" in err and problem in err


def test_help_texts_describe_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, opening in (
        (["run", "--help"], "Execute a notebook as a production job"),
        (["schedule", "add", "--help"], "Add (or replace) a schedule"),
        (["scheduler", "--help"], "Run each schedule's job when it falls due"),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        description = out.split("\n\n")[1]
        assert " ".join(description.split()).startswith(opening), out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":mod:" not in out
    assert "130" in out and "143" in out and "exited" in out and "kernel_unavailable" in out
    assert "papermill's -p" in " ".join(out.split())


def test_values_reach_the_notebook_exactly_and_a_missing_kernel_is_one_line(
    make_notebook: NotebookFactory, tmp_path: Path
) -> None:
    from papermill.cli import _resolve_type

    cases = {"a": "line1\nline2", "b": "release 2 # final", "c": "010", "d": "no", "e": "on", "f": "12:30",
             "g": "1e3", "h": "True", "i": "[1, 2]"}
    path = make_notebook(
        "values", "\n".join(f"{k} = None" for k in cases),
        "import workbench as wb\n" + "\n".join(f"wb.record({k!r}, {k})" for k in cases),
    )
    args = [part for name, text in cases.items() for part in ("-p", name, text)]
    done = workbench("run", str(path), *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[1]
    shown = workbench("runs", "show", run_id, cwd=tmp_path).stdout
    for name, text in cases.items():
        assert f"metric {name}" in shown
        assert repr(_resolve_type(text)) in shown, (name, shown)

    missing = workbench("run", str(path), "--kernel", "nope", cwd=tmp_path)
    assert missing.returncode == 8
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Jupyter kernel named 'nope'; installed: " in lines[0] and "python3" in lines[0]
    assert "kernel_unavailable" in lines[0]
    table = workbench("runs", cwd=tmp_path).stdout
    assert "failed (kernel_unavailable)" in table


def test_run_ids_sort_by_start_time() -> None:
    ids = [runner.new_run_id() for _ in range(200)]
    assert sorted(ids) == ids and len(set(ids)) == len(ids)
