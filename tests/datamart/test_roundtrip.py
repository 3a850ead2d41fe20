"""The datamart contract, on every backend: memory, the local store and a real Redis."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from workbench import datamart, run_context
from workbench.errors import DatamartError, DatasetNotFoundError, InvalidNameError, MissingDependencyError


def test_mixed_dtypes_round_trip_exactly(store_url: str, mixed: pd.DataFrame) -> None:
    stored = datamart.put("customers", mixed, description="every dtype")
    assert stored.rows == 4
    assert stored.columns == tuple(mixed.columns)
    pd.testing.assert_frame_equal(datamart.get("customers"), mixed)
    pd.testing.assert_frame_equal(datamart.get("customers", stored.version), mixed)


def test_arrow_and_numpy_outputs(store_url: str, mixed: pd.DataFrame) -> None:
    datamart.put("customers", mixed)
    table = datamart.get("customers", as_="arrow")
    assert isinstance(table, pa.Table)
    assert table.num_rows == 4
    arrays = datamart.get("customers", as_="numpy")
    assert list(arrays) == list(mixed.columns)
    np.testing.assert_array_equal(arrays["count"], mixed["count"].to_numpy())
    assert list(arrays["segment"]) == ["gold", None, "silver", "gold"]


def test_a_mapping_of_arrays_is_a_dataset(store_url: str) -> None:
    x = np.arange(12, dtype=np.float64)
    datamart.put("arrays", {"x": x, "y": x > 5})
    arrays = datamart.get("arrays", as_="numpy")
    np.testing.assert_array_equal(arrays["x"], x)
    np.testing.assert_array_equal(arrays["y"], x > 5)


def test_same_content_is_the_same_version(store_url: str, mixed: pd.DataFrame) -> None:
    first = datamart.put("customers", mixed, description="first")
    again = datamart.put("customers", mixed.copy(), description="second")
    assert again == first
    assert again.description == "first"
    assert first.sha256.startswith(first.version)
    assert [v.version for v in datamart.versions("customers")] == [first.version]


def test_new_content_is_a_new_version_and_the_newest_is_the_default(store_url: str, mixed: pd.DataFrame) -> None:
    old = datamart.put("customers", mixed)
    changed = mixed.assign(score=mixed["score"] * 2)
    new = datamart.put("customers", changed)
    assert new.version != old.version
    assert [v.version for v in datamart.versions("customers")] == [old.version, new.version]
    assert datamart.info("customers") == new
    assert datamart.info("customers", old.version) == old
    pd.testing.assert_frame_equal(datamart.get("customers"), changed)
    pd.testing.assert_frame_equal(datamart.get("customers", old.version), mixed)


def test_list_shows_the_newest_version_of_each_name(store_url: str, mixed: pd.DataFrame) -> None:
    assert len(datamart.list()) == 0
    datamart.put("b-set", mixed)
    newest = datamart.put("b-set", mixed.head(2))
    other = datamart.put("a-set", mixed)
    assert list(datamart.list()) == [other, newest]


def test_delete_one_version_then_all(store_url: str, mixed: pd.DataFrame, isolated_environment: Path) -> None:
    old = datamart.put("customers", mixed)
    new = datamart.put("customers", mixed.head(1))
    assert list(datamart.delete("customers", old.version)) == [old]
    assert list(datamart.versions("customers")) == [new]
    with pytest.raises(DatasetNotFoundError):
        datamart.get("customers", old.version)
    datamart.get("customers")
    assert list(datamart.delete("customers")) == [new]
    assert not list(isolated_environment.glob("datamart*/**/*.arrow")), "no data file or cache file is left"
    assert len(datamart.list()) == 0
    with pytest.raises(DatasetNotFoundError):
        datamart.delete("customers")


def test_unknown_names_and_versions_name_what_exists(store_url: str, mixed: pd.DataFrame) -> None:
    stored = datamart.put("customers", mixed)
    with pytest.raises(DatasetNotFoundError, match="no dataset named 'churn'; datasets: customers") as info:
        datamart.get("churn")
    assert info.value.fields["name"] == "churn"
    with pytest.raises(DatasetNotFoundError, match=f"no version '0123'; its versions: {stored.version}"):
        datamart.get("customers", "0123")
    with pytest.raises(DatasetNotFoundError, match="datasets: customers"):
        datamart.versions("churn")


HOSTILE = ["../etc", "a/b", "a\\b", "", ".hidden", "x" * 129, "a\x00b", "a\nb", "a b", "*", "a:b", "%2e%2e", "ü"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_before_any_store_access(
    store_url: str, name: str, isolated_environment: Path
) -> None:
    frame = pd.DataFrame({"x": [1]})
    for call in (
        lambda: datamart.put(name, frame),
        lambda: datamart.get(name),
        lambda: datamart.versions(name),
        lambda: datamart.delete(name),
    ):
        with pytest.raises(InvalidNameError):
            call()
    assert not (isolated_environment / "datamarts").exists() or not any((isolated_environment / "datamarts").iterdir())


def test_bad_input_and_output_are_clear_errors(store_url: str) -> None:
    with pytest.raises(DatamartError, match="cannot store a list"):
        datamart.put("x", [[1, 2]])
    with pytest.raises(DatamartError, match="column name of the DataFrame must be a string"):
        datamart.put("x", pd.DataFrame({0: [1]}))
    with pytest.raises(DatamartError, match="DataFrame cannot be stored as Arrow"):
        datamart.put("x", pd.DataFrame({"mixed": [1, "one", 2.5]}))
    with pytest.raises(DatamartError, match="arrays cannot be stored as Arrow columns"):
        datamart.put("x", {"a": [1, 2, 3], "b": [1]})
    with pytest.raises(DatamartError, match="description must be a string"):
        datamart.put("x", pd.DataFrame({"a": [1]}), description=3)  # type: ignore[arg-type]
    datamart.put("x", pd.DataFrame({"a": [1]}))
    with pytest.raises(DatamartError, match="unknown output 'polars'"):
        datamart.get("x", as_="polars")  # type: ignore[arg-type]


def test_reads_are_recorded_for_the_run_and_the_process(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = datamart.put("customers", pd.DataFrame({"a": [1, 2]}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setenv(run_context.RUN_DIR_ENV, str(run_dir))
    datamart.get("customers")
    datamart.get("customers", stored.version)
    entry = {"name": "customers", "version": stored.version}
    assert run_context.read_records(run_dir) == [{"kind": "datamart", **entry}] * 2
    assert entry in datamart.datasets_read()


def test_results_render_as_text_and_escaped_html(store_url: str) -> None:
    stored = datamart.put("customers", pd.DataFrame({"a<b>": [1]}), description="<script>x</script>")
    assert "customers@" in str(stored) and "a<b>: int64" in str(stored)
    assert "<script>" not in stored._repr_html_() and "&lt;script&gt;" in stored._repr_html_()
    listing = datamart.list()
    assert stored.version in str(listing)
    assert "&lt;script&gt;" in listing._repr_html_()
    assert json.loads(stored.to_json())["schema"] == 1


def test_missing_pyarrow_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'workbench\[parquet\]'"):
        datamart.put("x", pd.DataFrame({"a": [1]}))


def test_a_version_depends_on_the_data_not_on_library_versions(store_url: str, mixed: pd.DataFrame) -> None:
    stored = datamart.put("customers", mixed)
    table = datamart.get("customers", as_="arrow")
    described = table.schema.metadata[b"pandas"].decode()
    assert pa.__version__ not in described and pd.__version__ not in described
    assert "pandas_version" not in described
    pd.testing.assert_frame_equal(datamart.get("customers"), mixed)
    assert datamart.put("customers", mixed.copy()).version == stored.version
