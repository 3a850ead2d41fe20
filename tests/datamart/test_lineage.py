"""A registered model version lists the datamart versions its process read (its lineage)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from workbench import cli, datamart
from workbench.registry import default_registry

# a fresh process: what it read is all the lineage its model gets
TRAIN = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
import workbench as wb

wb.datamart.put("unused", pd.DataFrame({"b": [1]}))
frame = wb.datamart.get("lineage-rows")
wb.datamart.get("lineage-rows")
model = LogisticRegression().fit(frame[["a"]], frame["label"])
print(wb.register(model, "lineage-model").version)
"""


def test_register_attaches_the_datasets_read(shared_store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stored = datamart.put("lineage-rows", pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "label": [0, 0, 1, 1]}))
    done = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    version = default_registry().get("lineage-model", version=int(done.stdout))
    assert version.datasets == [{"name": "lineage-rows", "version": stored.version}]
    assert f"datasets: lineage-rows@{stored.version}" in str(version)
    assert f"lineage-rows@{stored.version}" in version._repr_html_()
    assert cli.main(["models", "lineage-model", "--version", str(version.version)]) == 0
    out = capsys.readouterr().out
    assert "lineage-model v1" in out and f"datasets: lineage-rows@{stored.version}" in out
    assert cli.main(["models", "--version", "1"]) == 1
    assert "--version needs a model name" in capsys.readouterr().err


def test_a_version_registered_in_this_process_lists_what_it_read(store_url: str) -> None:
    stored = datamart.put("rows", pd.DataFrame({"a": [0.0, 1.0], "label": [0, 1]}))
    frame = datamart.get("rows", stored.version)
    version = default_registry().register(LogisticRegression().fit(frame[["a"]], frame["label"]), "m")
    assert {"name": "rows", "version": stored.version} in version.datasets
    assert default_registry().get("m", version=version.version).datasets == version.datasets
