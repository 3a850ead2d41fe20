"""Notebooks run as `workbench run` jobs: papermill's kernel, parameters injected, magics.

nbval runs every notebook in make test; as jobs, the start notebook and the two training
notebooks the loop and the demo run. The others (timing baselines that a busy machine
trips, Cython builds, a cluster, feature ranking, the loop) add minutes of CPU and nothing
the job path does not already meet here.
"""

from pathlib import Path
from typing import Any

import pytest

from workbench.jobs import run
from workbench.registry import default_registry

ALL_NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
AS_JOBS = {"00-start", "loop-train", "train"}
NOTEBOOKS = [p for p in ALL_NOTEBOOKS if p.stem in AS_JOBS]

# smaller settings where a notebook's defaults are slow; every notebook must be listed here
PARAMETERS: dict[str, dict[str, Any]] = {
    "00-start": {},
    "01-timing": {"n_estimators": 10},
    "02-cython": {},
    "03-parallel": {},
    "04-features": {"cv": 2, "top": 5},
    "05-loop": {},
    "loop-train": {"rows": 400, "model_name": "job-loop"},
    "train": {"model": "forest", "n_estimators": 20, "model_name": "job-test"},
}


def test_every_notebook_is_listed() -> None:
    assert {p.stem for p in ALL_NOTEBOOKS} <= set(PARAMETERS)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_as_a_job(notebook: Path) -> None:
    result = run(notebook, PARAMETERS[notebook.stem])
    assert result.status == "succeeded"
    assert Path(result.output or "").is_file()
    if notebook.stem == "train":
        assert set(result.metrics) == {"precision_macro", "recall_macro"}
        assert result.models == [{"name": "job-test", "version": 1}]
        # what the job recorded (wb.record) is what the registry computed (wb.register): one definition
        registered = default_registry().get("job-test", version=1).metrics
        for key in ("precision_macro", "recall_macro"):
            assert result.metrics[key] == round(registered[key], 4)
        assert {"load", "fit"} <= set(result.timers)
