"""``%features X y`` in a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from workbench.errors import FeatureError
from workbench.features import Ranking


@pytest.fixture
def shell(signal: tuple[pd.DataFrame, Any]) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "workbench")
    ip.user_ns["X"], ip.user_ns["y"] = signal
    yield ip
    InteractiveShell.clear_instance()


def test_features_shows_and_returns_the_ranking(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    ranking = shell.run_line_magic("features", "X y --methods tree,mutual_info --cv 3 --top 2 --seed 4 -o")
    assert isinstance(ranking, Ranking)
    assert ranking.methods == ("tree", "mutual_info") and (ranking.cv, ranking.top_k, ranking.random_state) == (3, 2, 4)
    assert ranking.top(1) == ["signal"]
    out = capsys.readouterr().out
    assert "top 2 of 6 features, mean of 3 folds, seed 4" in out and "signal" in out
    assert shell.run_line_magic("features", "X y --methods mutual_info --cv 2 -q") is None
    assert capsys.readouterr().out == ""


def test_trees_and_repeats_reach_the_ranking(shell: InteractiveShell) -> None:
    import workbench as wb

    X, y = shell.user_ns["X"], shell.user_ns["y"]
    got = shell.run_line_magic("features", "X y --methods tree,permutation --cv 2 --trees 7 --repeats 2 -q -o")
    wanted = wb.features.rank(X, y, methods=("tree", "permutation"), cv=2, n_estimators=7, n_repeats=2)
    default = wb.features.rank(X, y, methods=("tree",), cv=2)
    for method in ("tree", "permutation"):
        assert list(got.scores[method]) == list(wanted.scores[method])
    assert list(got.scores["tree"]) != list(default.scores["tree"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("X", "the following arguments are required: y"),
        ("X nope", "no labels named 'nope'"),
        ("X y --methods tree,shap", "unknown: shap"),
        ("X y --methods ,", "none given"),
        ("X y --cv 1", "--cv must be at least 2"),
        ("X y --top many", "--top takes a whole number"),
        ("X y --trees 0", "--trees must be at least 1"),
        ("X y --bogus", "unrecognized arguments"),
    ],
)
def test_bad_usage_is_a_usage_error(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("features", line)


def test_bad_data_raises_the_feature_error(shell: InteractiveShell) -> None:
    shell.user_ns["short"] = shell.user_ns["y"][:-1]
    with pytest.raises(FeatureError, match="rows but y has"):
        shell.run_line_magic("features", "X short --methods mutual_info")


def test_the_notebook_shows_the_rfe_path_as_a_chart_and_legends_that_fit(shell: InteractiveShell) -> None:
    import re

    from IPython.utils.capture import capture_output

    shell.user_ns["X"] = shell.user_ns["X"].rename(columns={"e": "a feature name far too long for the labels"})
    with capture_output() as shown:
        shell.run_line_magic("features", "X y --methods tree,permutation,mutual_info --cv 2 --top 6")
        shell.run_cell("import workbench as wb\nfrom IPython.display import display\n"
                       "display(wb.features.select(X, y, 'rfe', k=2, cv=2))")
    ranking, rfe = (output.data["text/html"] for output in shown.outputs)
    chart = ranking[ranking.index("<svg") :]
    width = float(re.search(r'<svg[^>]* width="(\d+)"', chart).group(1))
    legend = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="10" height="10"[^>]*/><text[^>]*>([^<]+)</text>', chart)
    assert [name for _, name in legend] == ["tree", "permutation", "mutual_info"]
    for x, name in legend:  # each entry ends inside the chart, at about 7 px per character of 11 px text
        assert float(x) + 14 + 7 * len(name) <= width
    assert "<title>a feature name far too long for the labels</title>" in chart  # cut, with the full name
    # the RFE path: a line chart with both axes, the kept count marked; the table has 3 rows, not one per count
    assert rfe.count("<tr>") <= 1 + 3
    path = rfe[rfe.index("<svg") :]
    assert "<polyline" in path and ">number of features</text>" in path and ">kept 2</text>" in path
    assert path.count("<circle") == 6 + 1  # one point per number of features, and the ring on the best
