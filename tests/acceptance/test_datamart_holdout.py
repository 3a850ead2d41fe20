"""``holdout = "datamart:NAME@VERSION"``: a gate judged on a dataset of the datamart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import workbench as wb
from workbench import datamart
from workbench.acceptance import read_source
from workbench.errors import HoldoutError
from workbench.registry import Registry


@pytest.fixture
def flowers() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X.assign(species=y)


def test_read_a_version_or_the_newest(tmp_path: Path, flowers: pd.DataFrame) -> None:
    first = datamart.put("flowers", flowers)
    newest = datamart.put("flowers", flowers.head(60))
    X, y = read_source(f"datamart:flowers@{first.version}", root=tmp_path, target="species")
    pd.testing.assert_frame_equal(X, flowers.drop(columns=["species"]))
    assert y.tolist() == flowers["species"].tolist()
    X, y = read_source("datamart:flowers", root=tmp_path, target="species")
    assert len(X) == len(y) == newest.rows == 60


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("datamart:flowers@0000000000", "species", "dataset 'flowers' has no version '0000000000'; its versions: "),
        ("datamart:weeds", "species", "no dataset named 'weeds'; datasets: flowers"),
        ("datamart:../flowers", "species", "is not allowed"),
        ("datamart:flowers@", "species", "names no version after '@'"),
        ("datamart:flowers", None, "name its label column with target"),
        ("datamart:flowers", "label", "has no column 'label'; its columns: sepal_length, "),
    ],
)
def test_a_holdout_that_cannot_be_read_is_a_holdout_error(
    tmp_path: Path, flowers: pd.DataFrame, source: str, target: str | None, message: str
) -> None:
    datamart.put("flowers", flowers)
    with pytest.raises(HoldoutError, match=message) as caught:
        read_source(source, root=tmp_path, target=target)
    assert caught.value.hint


def test_gates_declared_on_a_datamart_holdout(
    flowers: pd.DataFrame, registry: Registry, flowers_model: Any
) -> None:
    stored = datamart.put("flowers", flowers)
    Path("pyproject.toml").write_text(
        "[tool.workbench.acceptance.flowers]\n"
        f'holdout = "datamart:flowers@{stored.version}"\n'
        'target = "species"\n'
        "bootstrap = 200\n"
        "recall_macro = 0.9\n"
        "[tool.workbench.acceptance.missing]\n"
        'holdout = "datamart:flowers@0000000000"\n'
        'target = "species"\n'
        "recall_macro = 0.9\n"
    )
    registry.register(flowers_model, "flowers")
    report = wb.run_gates("flowers")
    assert report.passed
    assert f"holdout datamart:flowers@{stored.version}: 150 rows" in str(report)
    registry.register(flowers_model, "missing")
    with pytest.raises(HoldoutError, match="has no version '0000000000'"):
        wb.promote("missing", 1, "production")
    assert registry.get("missing", version=1).stage == "dev"
