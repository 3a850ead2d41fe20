"""Loop policies from pyproject.toml: every key read, every malformed one a one-line error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loop.conftest import TRAIN, write_project
from workbench import cli
from workbench.config import load_settings
from workbench.errors import ConfigError
from workbench.lifecycle.loop.policy import load_policies


def test_every_key_of_a_policy_is_read(isolated_environment: Path) -> None:
    write_project(Path.cwd(), f"""
        [tool.workbench.loop.cancer-classifier]
        notebook = "{TRAIN.relative_to(TRAIN.parents[1])}"
        parameters = {{ model = "stump" }}
        on_new_data = "customers"
        on_drift = {{ psi = 0.3, features = 3 }}
        on_live = {{ precision = 0.85, recall = 0.8, min_labels = 150 }}
        schedule = "0 3 * * 1"
        challenger_weight = 0.25
        decide = {{ metric = "recall", min_labels = 400, confidence = 0.99, max_days = 7 }}
        cooldown = "90m"
        timeout = 600
        """)
    (Path.cwd() / "notebooks").mkdir()
    (Path.cwd() / "notebooks" / TRAIN.name).write_bytes(TRAIN.read_bytes())
    policy = load_policies()["cancer-classifier"]
    assert policy.notebook == Path.cwd().resolve() / "notebooks" / TRAIN.name
    assert policy.parameters == {"model": "stump"} and policy.data_parameter == "datamart"
    assert (policy.on_drift.psi, policy.on_drift.features, policy.on_drift.min_rows) == (0.3, 3, 200)  # type: ignore[union-attr]
    assert policy.on_live is not None and policy.on_live.thresholds == {"precision": 0.85, "recall": 0.8}
    assert (policy.on_live.min_labels, policy.on_live.window) == (150, 500)
    assert (policy.decide.metric, policy.decide.min_labels, policy.decide.confidence) == ("recall", 400, 0.99)
    assert (policy.cooldown_s, policy.timeout_s, policy.challenger_weight) == (5400.0, 600.0, 0.25)
    assert policy.triggers() == ["new_data", "drift", "live", "schedule"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("on_new_data = 'sim'", "notebook is missing"),
        ("notebook = 'nowhere.ipynb'\non_new_data = 'sim'", "notebook names .*nowhere.ipynb, which is not a file"),
        ("NB\non_new_data = 'sim'\non_dirft = { psi = 0.2 }", "on_dirft is not a loop policy key"),
        ("NB", "on_new_data or on_drift, on_live or schedule must be set"),
        ("NB\non_drift = { psi = 'high' }", r"on_drift.psi must be a number, not 'high'"),
        ("NB\non_drift = { psi = 0.2, feature = 3 }", "on_drift.feature is not a key of on_drift"),
        ("NB\non_drift = { psi = -1 }", "on_drift.psi must be above 0"),
        ("NB\non_live = { min_labels = 10 }", "on_live needs at least one of precision, recall, f1"),
        ("NB\non_live = { f1 = 1.5 }", "on_live.f1 must be above 0 and at most 1"),
        ("NB\non_live = { f1 = 0.8, min_labels = 0 }", "on_live.min_labels must be a whole number of at least 1"),
        ("NB\nschedule = 'every monday'", "schedule must be a cron expression"),
        ("NB\non_new_data = 'sim'\nchallenger_weight = 1", "challenger_weight must be above 0 and at most"),
        ("NB\non_new_data = 'sim'\ndecide = { metric = 'auc' }", "decide.metric must be one of f1, precision"),
        ("NB\non_new_data = 'sim'\ndecide = { confidence = 0.3 }", "decide.confidence must be at least 0.5"),
        ("NB\non_new_data = 'sim'\ncooldown = 'six hours'", 'cooldown must be a duration like "45s"'),
        ("NB\non_new_data = 'sim'\nparameters = { 'not a name' = 1 }", "parameters are refused"),
        ("NB\non_new_data = '../etc'", "on_new_data does not name a dataset"),
        ("NB\non_new_data = 'sim'\ndata_parameter = 'data set'", "data_parameter must be a notebook parameter"),
    ],
)
def test_a_malformed_policy_is_one_line_naming_the_key(
    lines: str, message: str, isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "[tool.workbench.loop.sim]\n" + lines.replace("NB", f"notebook = '{TRAIN}'")
    write_project(Path.cwd(), body)
    with pytest.raises(ConfigError, match=message) as info:
        load_policies(load_settings())
    assert str(info.value).startswith("[tool.workbench.loop.sim] ")
    assert cli.main(["loop", "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: [tool.workbench.loop.sim]") and err.count("\n") == 1


def test_a_policy_table_must_be_a_table_named_after_a_model(isolated_environment: Path) -> None:
    write_project(Path.cwd(), "[tool.workbench.loop]\nsim = 3\n")
    with pytest.raises(ConfigError, match=r"\[tool.workbench.loop.sim\] must be a table"):
        load_policies()
    write_project(Path.cwd(), f"[tool.workbench.loop.'a b']\nnotebook = '{TRAIN}'\non_new_data = 'x'\n")
    with pytest.raises(ConfigError, match="does not name a model"):
        load_policies()
