"""``%acceptance NAME`` in a real IPython shell, over the example project's gates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from workbench.acceptance import GateReport
from workbench.errors import GateFailedError
from workbench.registry import Registry


@pytest.fixture
def shell(example: Path) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "workbench")
    yield ip
    InteractiveShell.clear_instance()


def test_acceptance_shows_the_table_and_keeps_the_report(
    shell: InteractiveShell, registry: Registry, strong: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.register(strong, "cancer")
    report = shell.run_line_magic("acceptance", "cancer -o")
    assert isinstance(report, GateReport) and report.passed
    out = capsys.readouterr().out
    assert "acceptance gates of cancer v1 (dev): passed" in out
    assert "precision (macro) >= 0.85" in out and "true 1  4       103" in out
    html = report._repr_html_()
    assert "<table" in html and "recall (macro) no worse than production" in html
    assert registry.gate_results("cancer", 1)[0]["trigger"] == "magic"


def test_a_failing_gate_raises_after_showing_the_table(
    shell: InteractiveShell, registry: Registry, weak: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.register(weak, "cancer")
    with pytest.raises(GateFailedError, match="cancer v1 fails 1 of 4 acceptance criteria"):
        shell.run_line_magic("acceptance", "cancer")
    assert "FAIL" in capsys.readouterr().out


def test_gates_of_another_name_and_usage_errors(shell: InteractiveShell, registry: Registry, strong: Any) -> None:
    registry.register(strong, "cancer-candidate")
    report = shell.run_line_magic("acceptance", "cancer-candidate --gates cancer -q -o")
    assert (report.model, report.passed) == ("cancer-candidate", True)
    with pytest.raises(UsageError, match="model 'churn' has no acceptance gates"):
        shell.run_line_magic("acceptance", "churn")
    with pytest.raises(UsageError, match="no model named 'flowers'"):
        shell.run_line_magic("acceptance", "flowers")


def test_no_gates_says_which_pyproject_was_read(
    shell: InteractiveShell, example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not shell.run_cell("%acceptance churn").success
    shown = capsys.readouterr()
    assert "Traceback" not in shown.out + shown.err
    assert (
        f"UsageError: model 'churn' has no acceptance gates in {example / 'pyproject.toml'}; "
        "it declares gates for cancer, flowers, flowers-fn (declare them in [tool.workbench.acceptance.churn] "
        "of that file)"
    ) in shown.out + shown.err
    elsewhere = tmp_path / "scratch"  # a notebook opened outside any project
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert not shell.run_cell("%acceptance churn").success
    shown = capsys.readouterr()
    assert (
        f"model 'churn' has no acceptance gates: there is no pyproject.toml in {elsewhere} or any folder above it"
    ) in shown.out + shown.err


def test_reports_of_two_registrations_compare_equal_under_nbval(example: Path, registry: Registry, strong: Any) -> None:
    from tests.test_sanitize import sanitize
    from workbench.acceptance import run_gates
    from workbench.notebooks import SANITIZE_FILE

    assert SANITIZE_FILE.is_file()
    first, second = (run_gates("cancer", version=registry.register(strong, "cancer").version) for _ in "ab")
    assert (first.version, second.version) == (1, 2)
    for form in (str, lambda r: r._repr_html_()):
        assert form(first) != form(second)
        assert sanitize(form(first)) == sanitize(form(second))
