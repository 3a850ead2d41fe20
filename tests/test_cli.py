import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from workbench.cli import main


def test_version_from_the_installed_console_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("workbench ")


# argparse itself ignores a failed write of its help
@pytest.mark.parametrize(("command", "code"), [(["sanitize-file"], 141), (["--help"], 0)])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    command: list[str], code: int, isolated_environment: Path
) -> None:
    """``workbench runs | head``: the command stops with SIGPIPE's 141, without a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before the command writes anything
        error = process.stderr.read().decode()
        assert process.wait(timeout=120) == code, error
    assert "Traceback" not in error and "BrokenPipe" not in error, error


def test_sanitize_file_path_points_at_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sanitize-file"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_file()
    assert "regex:" in path.read_text()


def test_show_prints_code_and_text_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cell = new_code_cell("print('hi')\n1 + 1")
    cell.outputs = [
        new_output("stream", name="stdout", text="hi\n"),
        new_output("execute_result", data={"text/plain": "2"}, execution_count=1),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[cell]), path)
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "print('hi')" in out and "  | hi" in out and "  | 2" in out


def test_show_of_a_missing_or_broken_notebook_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(tmp_path / "none.ipynb")]) == 1
    assert "no notebook at" in capsys.readouterr().err
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    assert main(["show", str(broken)]) == 1
    assert "not a readable notebook" in capsys.readouterr().err
