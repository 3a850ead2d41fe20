"""``%dashboard`` in a real IPython shell, over a real local store."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from tests.dashboard.conftest import XSS_TAG, settings_for
from workbench.dashboard.summary import COLUMNS, DashboardSummary


@pytest.fixture
def shell(isolated_environment: Path, shared_home: Path) -> Iterator[InteractiveShell]:
    shutil.copytree(shared_home, isolated_environment)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "workbench")
    yield ip
    InteractiveShell.clear_instance()


def test_dashboard_magic_returns_and_shows_the_summary(
    shell: InteractiveShell, isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.storage import open_storage

    result = shell.run_line_magic("dashboard", "-o")
    assert isinstance(result, DashboardSummary)
    storage = open_storage(settings_for(isolated_environment), url="local")
    store = storage.models
    try:
        production = store.find("iris", stage="production")
    finally:
        storage.close()
    rows = {(r[0], r[1]): dict(zip(COLUMNS, r, strict=True)) for r in result.rows}
    assert set(rows) == {("iris", "2"), ("iris", "1"), ("churn-model", "1")}
    assert rows["iris", "2"]["precision (macro)"] == f"{production.metrics['precision_macro']:.3f}"
    assert rows["iris", "2"]["last gate"] == "passed"
    assert rows["iris", "2"]["live precision (macro)"] == "no live data"
    shown = capsys.readouterr().out
    assert "iris" in shown and "churn-model" in shown


def test_the_html_table_escapes_text_from_the_store() -> None:
    version = {"version": 1, "stage": "<b>dev</b>", "offline": {}, "gate": None, "live": [], "traffic": []}
    data = {"models": [{"name": XSS_TAG, "versions": [version]}], "live_available": False}
    markup = DashboardSummary(data)._repr_html_()
    assert "<img" not in markup and "<b>" not in markup
    assert "&lt;img src=x" in markup and "&lt;b&gt;dev&lt;/b&gt;" in markup


def test_url_shows_the_running_dashboard_in_a_frame(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("dashboard", "--url http://127.0.0.1:8050/")
    assert "IFrame" in capsys.readouterr().out


def test_bad_arguments_are_usage_errors(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="http"):
        shell.run_line_magic("dashboard", "--url javascript:alert(1)")
    with pytest.raises(UsageError, match="height"):
        shell.run_line_magic("dashboard", "--url http://127.0.0.1:8050/ --height 5")


def test_dashboard_in_a_notebook_charts_offline_and_live_precision_and_recall(
    shell: InteractiveShell, isolated_environment: Path
) -> None:
    from IPython.utils.capture import capture_output
    from sklearn.metrics import precision_score, recall_score

    from tests.dashboard.conftest import iris_data
    from workbench.serving.predlog import PredictionRecord, open_prediction_log

    _, y = iris_data()
    truth = [int(label) for label in y[::3]]
    predicted = [label if i % 4 else (label + 1) % 3 for i, label in enumerate(truth)]
    log = open_prediction_log(settings_for(isolated_environment))
    try:
        log.append([PredictionRecord(f"r{i}", "iris", 2, "production", "0" * 64, p, time.time(), 1.0)
                    for i, p in enumerate(predicted)])
        log.label("iris", [(f"r{i}", label) for i, label in enumerate(truth)])
    finally:
        log.close()
    with capture_output() as shown:
        shell.run_line_magic("dashboard", "")
    (page,) = [output.data["text/html"] for output in shown.outputs]
    assert "<th>precision (macro)</th>" in page and "<th>live recall (macro)</th>" in page
    charts = re.findall(r'<svg class="wb-chart".*?</svg>', page, re.S)
    assert [re.search(r'aria-label="([^"]+)"', c).group(1) for c in charts] == [
        "churn-model: precision (macro) against recall (macro) of every version",
        "iris: precision (macro) against recall (macro) of every version",
    ]
    iris = charts[1]
    assert ">recall (macro)</text>" in iris and ">precision (macro)</text>" in iris  # labelled axes
    assert iris.count('data-kind="offline"') == 2 and iris.count('data-kind="live"') == 1
    precision = precision_score(truth, predicted, average="macro", zero_division=0)
    recall = recall_score(truth, predicted, average="macro", zero_division=0)
    assert f"v2 (production) live (production arm): precision {precision:.3f}, recall {recall:.3f}" in iris
