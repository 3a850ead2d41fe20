"""The workbench Jupyter Server extension's REST API, against a real JupyterLab server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import psutil

from tests.lab.conftest import TOKEN, Lab, wait_for
from workbench.registry.api import Registry
from workbench.storage import open_storage


def test_the_api_uses_the_labs_own_login(lab: Lab) -> None:
    with httpx.Client(base_url=lab.url) as anonymous:
        assert anonymous.get("workbench/api/state").status_code == 403
        assert anonymous.get("workbench/dashboard/").status_code in (302, 403)
        # a write without the XSRF cookie, from a logged-in browser session, is refused too
        assert anonymous.post("workbench/api/runs", json={"path": "train.ipynb"}).status_code == 403
    assert set(lab.state()) >= {"runs", "schedules", "models", "fingerprint"}


def test_the_lab_loads_the_prebuilt_extension(lab: Lab) -> None:
    page = httpx.get(lab.url + "lab", headers={"Authorization": f"token {TOKEN}"}, timeout=30).text
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    loaded = {e["name"]: e for e in config["federated_extensions"]}
    assert loaded["workbench"]["load"].startswith("static/remoteEntry.")


def test_parameters_come_from_the_notebooks_parameters_cell(lab: Lab) -> None:
    found = lab.get("parameters", params={"path": "train.ipynb"}).json()
    by_name = {p["name"]: p for p in found["parameters"]}
    assert found["name"] == "train"
    assert by_name["model"] == {"name": "model", "type": "str", "default": '"logistic"', "help": "logistic or forest"}
    assert by_name["n_estimators"]["type"] == "int" and by_name["n_estimators"]["default"] == "100"
    outside = lab.get("parameters", params={"path": "../wbhome/x.ipynb"})
    assert outside.status_code == 400 and "outside the Lab's folder" in outside.json()["error"]


def test_bad_parameters_are_refused_before_anything_starts(lab: Lab) -> None:
    before = len(lab.state()["runs"])
    unknown = lab.post("runs", {"path": "train.ipynb", "parameters": {"n_estimator": "10"}})
    assert unknown.status_code == 422
    assert "unknown parameter 'n_estimator'" in unknown.json()["error"]
    not_a_map = lab.post("runs", {"path": "train.ipynb", "parameters": ["model", "forest"]})
    assert not_a_map.status_code == 422 and "JSON object" in not_a_map.json()["error"]
    not_a_name = lab.post("runs", {"path": "train.ipynb", "parameters": {"1x": "10"}})
    assert not_a_name.status_code == 422 and "not a Python identifier" in not_a_name.json()["error"]
    assert len(lab.state()["runs"]) == before


def test_a_run_with_a_changed_parameter_succeeds_and_its_model_can_be_promoted(lab: Lab) -> None:
    started = lab.post("runs", {"path": "train.ipynb", "parameters": {"model": "forest", "n_estimators": "20"}})
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]
    assert any(r["run_id"] == run_id for r in lab.state()["runs"])  # shown at once, before its kernel starts
    run = lab.wait_run(run_id)
    assert run["status"] == "succeeded", run
    assert run["parameters"] == {"model": "forest", "n_estimators": 20}
    assert run["metrics"]["precision_macro"] > 0.9
    version = run["models"][0]["version"]

    promoted = lab.post(f"models/cancer-classifier/{version}/promote", {"stage": "production"}).json()
    assert promoted["decision"] == "promoted" and promoted["gate"] == "passed", promoted
    model = next(m for m in lab.state()["models"] if m["name"] == "cancer-classifier")
    shown = next(v for v in model["versions"] if v["version"] == version)
    assert shown["stage"] == "production" and shown["gate"]["passed"] is True
    assert shown["offline"]["precision"] > 0.9 and shown["offline"]["recall"] > 0.9

    opened = lab.post(f"runs/{run_id}/open").json()
    assert (lab.folder / opened["path"]).is_file() and opened["path"].startswith("workbench-runs/")


def test_a_failed_run_says_why_and_reruns_with_the_same_parameters(lab: Lab) -> None:
    run_id = lab.post("runs", {"path": "failing.ipynb", "parameters": {"rows": "3"}}).json()["run_id"]
    failed = lab.wait_run(run_id)
    assert (failed["status"], failed["reason"]) == ("failed", "cell_error")
    assert failed["error"] == "ValueError: the source table has only 3 rows" and failed["has_output"]
    rerun = lab.post(f"runs/{run_id}/rerun").json()["run_id"]
    assert rerun != run_id
    again = lab.wait_run(rerun)
    assert again["parameters"] == {"rows": 3} and again["error"] == failed["error"]


def test_a_refused_promotion_returns_the_gate_report(lab: Lab) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    with open_storage(lab.settings) as storage:
        version = Registry(storage.models).register(model, "strict-classifier", eval_data=(X_test, y_test)).version

    refused = lab.post(f"models/strict-classifier/{version}/promote", {"stage": "production"})
    assert refused.status_code == 200
    record = refused.json()
    assert record["decision"] == "refused" and record["gate"] == "failed" and record["stage"] == "dev"
    assert "precision" in record["text"] and "0.9999" in record["text"]
    shown = next(m for m in lab.state()["models"] if m["name"] == "strict-classifier")["versions"][0]
    assert shown["stage"] == "dev" and shown["gate"]["passed"] is False

    bad_weight = lab.post(f"models/strict-classifier/{version}/promote", {"stage": "challenger", "weight": 2})
    assert bad_weight.status_code == 400 and "weight" in bad_weight.json()["error"]
    unknown = lab.post("models/no-such-model/1/promote", {"stage": "production"})
    assert unknown.status_code == 404


def test_rollback_puts_back_the_production_version_the_current_one_replaced(lab: Lab) -> None:
    from sklearn.linear_model import LogisticRegression

    from tests.stages import in_production

    X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    with open_storage(lab.settings) as storage:
        registry = Registry(storage.models)
        first = in_production(registry, registry.register(LogisticRegression().fit(X, y), "rollback-model"))
        in_production(registry, registry.register(LogisticRegression(C=0.5).fit(X, y), "rollback-model"))
    answer = lab.post("models/rollback-model/rollback")
    assert answer.json()["summary"] == f"rollback-model v{first.version} is back in production"
    model = next(m for m in lab.state()["models"] if m["name"] == "rollback-model")
    stages = {v["version"]: v["stage"] for v in model["versions"]}
    assert stages[first.version] == "production" and list(stages.values()).count("production") == 1
    nothing_before = lab.post("models/rollback-model/rollback")
    assert nothing_before.status_code == 400 and "nothing to roll back to" in nothing_before.json()["error"]


def test_schedules_with_a_preview_of_their_next_times_pause_resume_and_remove(lab: Lab) -> None:
    preview = lab.get("schedules/preview", params={"cron": "0 3 * * *"}).json()
    assert len(preview["next"]) == 3 and all(t.endswith("T03:00:00+00:00") for t in preview["next"])
    bad = lab.get("schedules/preview", params={"cron": "every day"})
    assert bad.status_code == 400 and "five fields" in bad.json()["hint"]

    nightly = {"path": "train.ipynb", "name": "nightly", "parameters": {"C": "0.5"}, "cron": "0 3 * * *"}
    added = lab.post("runs", nightly)
    assert added.json() == {"schedule": "nightly", "next": preview["next"]}
    refused = lab.post("runs", {"path": "train.ipynb", "name": "bad", "parameters": {"nope": "1"}, "cron": "0 3 * * *"})
    assert refused.status_code == 422

    def schedule() -> dict[str, object]:
        found: dict[str, object] = next(s for s in lab.state()["schedules"] if s["name"] == "nightly")
        return found

    assert schedule()["paused"] is False and str(schedule()["next_run"]).endswith("T03:00:00+00:00")
    assert schedule()["parameters"] == {"C": 0.5} and schedule()["last_run"] is None
    assert lab.post("schedules/nightly/pause").json() == {"name": "nightly", "paused": True}
    assert schedule()["paused"] is True and schedule()["next_run"] is None
    lab.post("schedules/nightly/resume")
    assert schedule()["paused"] is False
    assert lab.client is not None and lab.client.delete("schedules/nightly").status_code == 200
    assert all(s["name"] != "nightly" for s in lab.state()["schedules"])
    assert lab.client.delete("schedules/nightly").status_code == 400


def test_cancel_stops_the_run_and_its_kernel(lab: Lab) -> None:
    run_id = lab.post("runs", {"path": "slow.ipynb"}).json()["run_id"]

    def kernel_started() -> dict[str, object] | None:
        run = lab.run(run_id)
        return run if run and run.get("started_at") and _kernels_of(run_id) else None

    wait_for(kernel_started, "the slow run's kernel", 60)
    cancelled = lab.post(f"runs/{run_id}/cancel").json()
    assert cancelled["status"] == "failed" and cancelled["reason"] == "cancelled", cancelled
    wait_for(lambda: not _kernels_of(run_id), "the cancelled run's kernel to stop", 20)
    assert lab.post(f"runs/{run_id}/cancel").status_code == 400  # not running any more


def _kernels_of(run_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            environ = process.info["environ"] or {}
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        command = " ".join(process.info["cmdline"] or [])
        if environ.get("WORKBENCH_RUN_ID") == run_id and "ipykernel_launcher" in command:
            found.append(process)
    return found


def test_a_run_survives_the_lab_server_that_started_it(lab: Lab, tmp_path: Path) -> None:
    """A second Lab server on the same folder and store starts a run and stops; the run goes on and
    the other server shows how it ended."""
    other = Lab(folder=lab.folder, home=lab.home, jupyter=tmp_path / "jupyter").start()
    try:
        run_id = other.post("runs", {"path": "slow.ipynb", "parameters": {"seconds": "2"}}).json()["run_id"]
    finally:
        other.stop()
    assert other.process is not None and other.process.returncode is not None
    run = lab.wait_run(run_id)
    assert run["status"] == "succeeded" and run["parameters"] == {"seconds": 2}


def test_the_dashboard_page_is_served_behind_the_labs_login(lab: Lab) -> None:
    with httpx.Client(base_url=lab.url + "workbench/dashboard/", headers={"Authorization": f"token {TOKEN}"}) as client:
        page = client.get("")
        assert page.status_code == 200 and '<script src="static/dashboard.js" defer>' in page.text
        assert client.get("static/dashboard.js").status_code == 200
        snapshot = client.get("api/snapshot").json()
        assert snapshot["status"] in ("ok", "starting") and "data" in snapshot
        assert client.get("api/runs", params={"limit": "5"}).json()["offset"] == 0
