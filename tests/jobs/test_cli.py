"""``workbench run | runs | schedule``: flags reach the API; real subprocess runs for exit codes."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import NotebookFactory
from workbench.cli import main
from workbench.jobs import runner
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
        "run", "nb.ipynb", "-f", str(params), "-p", "b", "[1, 2]", "-p", "c", "0.5", "-r", "d", "007",
        "--name", "nightly", "--timeout", "60", "--cell-timeout", "5", "--retries", "2", "--kernel", "py",
        "--allow-new-params", "--run-id", "given-id",
    ])
    assert code == 0
    assert seen == {
        "notebook": "nb.ipynb",
        "parameters": {"a": 1, "b": [1, 2], "c": 0.5, "d": "007"},
        "name": "nightly",
        "timeout": 60.0,
        "cell_timeout": 5.0,
        "retries": 2,
        "kernel": "py",
        "allow_new_params": True,
        "run_id": "given-id",
    }
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
    assert "metric x" in capsys.readouterr().out
    assert main(["schedule", "remove", "every5"]) == 0
    assert main(["schedule", "remove", "every5"]) == 1
    assert main(["schedule", "add", "bad", str(path), "--cron", "every day"]) == 1
    assert "not a cron expression" in capsys.readouterr().err
