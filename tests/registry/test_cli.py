"""``workbench models | promote | rollback | export | import`` through the real entry point."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.registry.payloads import SetstateMarker
from workbench import cli
from workbench.registry import default_registry


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_promote_rollback(capsys: pytest.CaptureFixture[str], model: Any, data: tuple[Any, Any]) -> None:
    registry = default_registry()
    registry.register(model, "churn", eval_data=data)
    registry.register(model, "churn")
    assert run(capsys, "models")[1].splitlines()[0].split() == [
        "name",
        "versions",
        "latest",
        "production",
        "production",
        "metrics",
        "updated",
    ]
    assert run(capsys, "promote", "churn", "1", "--to", "production") == (0, "churn v1 is now production\n", "")
    assert run(capsys, "promote", "churn", "2", "--to", "production")[0] == 0
    code, out, _ = run(capsys, "models", "churn")
    assert code == 0
    rows = [line.split()[:2] for line in out.splitlines()[1:]]
    assert rows == [["1", "archived"], ["2", "production"]]
    assert "accuracy=" in out
    assert run(capsys, "rollback", "churn") == (0, "churn v1 is back in production\n", "")
    code, _, err = run(capsys, "rollback", "churn")
    assert code == 1 and "nothing to roll back to" in err


def test_errors_are_one_line_with_an_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "ghost")
    assert code == 1
    assert err.startswith("workbench: error: no model named 'ghost'") and "Traceback" not in err
    code, _, err = run(capsys, "models", "../etc")
    assert code == 1 and "is not allowed" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["promote", "churn", "1", "--to", "prod"])
    assert exit_info.value.code == 2


def test_export_then_import_into_another_registry(
    capsys: pytest.CaptureFixture[str], model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_data()
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    default_registry().register(forest, "forest", metrics={"auc": 0.8})
    exported = tmp_path / "forest.wbmodel"
    assert run(capsys, "export", "forest", "1", str(exported))[0] == 0
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "elsewhere"))
    code, _, err = run(capsys, "import", str(exported))
    assert code == 1 and "sklearn.tree._tree.Tree" in err
    code, out, _ = run(capsys, "import", str(exported), "--trust", "sklearn.tree._tree.Tree")
    assert (code, out) == (0, f"imported {exported} as forest v1 (dev)\n")
    copy = default_registry().get("forest", version=1)
    assert copy.metrics == {"auc": 0.8}
    assert (default_registry().load_model("forest", version=1).predict(X) == forest.predict(X)).all()


def test_import_refuses_a_hostile_file_without_running_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    default_registry().register(SetstateMarker(str(marker)), "hostile", format="skops")
    exported = tmp_path / "hostile.wbmodel"
    assert run(capsys, "export", "hostile", "1", str(exported))[0] == 0
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "elsewhere"))
    code, _, err = run(capsys, "import", str(exported))
    assert code == 1 and "tests.registry.payloads.SetstateMarker" in err
    assert not marker.exists()
    assert default_registry().models() == []
    tampered = tmp_path / "tampered.wbmodel"
    with zipfile.ZipFile(exported) as source, zipfile.ZipFile(tampered, "w") as target:
        target.writestr("workbench-model.json", source.read("workbench-model.json"))
        artifact = bytearray(source.read("artifact"))
        artifact[100] ^= 1
        target.writestr("artifact", bytes(artifact))
    code, _, err = run(capsys, "import", str(tampered))
    assert code == 1 and "does not match its recorded SHA-256" in err


def make_data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=60, n_features=4, random_state=0)


def test_console_script_runs_the_registry_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "models"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "no models registered\n")
