"""``workbench demo`` (what ``make demo`` runs): job, gates, production, one served prediction, stop.

The same command as the Makefile's, with a smaller forest, in a fresh home; run from the
project's folder so the gates of ``pyproject.toml`` apply, as they do for ``make demo``.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from workbench import cli
from workbench.errors import ServerCheckError
from workbench.registry import default_registry
from workbench.serving.probe import predict_once

PROJECT = Path(__file__).resolve().parents[1]
_ANSWER = re.compile(r"cancer-classifier v1 \(production\) predicted ([01]) \(P\(0\) = [\d.]+, P\(1\) = [\d.]+\)")
_ADDRESS = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@pytest.mark.timeout(180)
def test_the_demo_takes_the_notebook_to_production_and_a_served_prediction(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(PROJECT)
    argv = ["demo", "notebooks/train.ipynb", "-p", "model", "forest", "-p", "n_estimators", "20"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out

    production = default_registry().get("cancer-classifier", stage="production")
    assert production.version == 1
    assert production.params["n_estimators"] == 20
    history = default_registry().history("cancer-classifier")
    assert [(event.to_stage, event.gate) for event in history][-1] == ("production", "passed")

    for step in ("[1/5] the training job", "[2/5] the acceptance gates", "[3/5] promotion", "[4/5] serving"):
        assert step in out, out
    assert "acceptance gates of cancer-classifier v1 (dev): passed" in out
    assert "cancer-classifier v1 is now production (acceptance gates passed)" in out
    assert _ANSWER.search(out), out
    assert "dashboard" in out.split("[5/5]")[1]
    # the server answered, then was stopped: its port no longer takes connections
    found = _ADDRESS.search(out)
    assert found is not None, out
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=5).close()


def test_a_model_without_a_production_version_is_reported_with_what_the_server_said(
    isolated_environment: Path,
) -> None:
    with pytest.raises(ServerCheckError) as raised:
        predict_once("nothing-here", [1.0, 2.0], timeout=60)
    message = str(raised.value)
    assert "exited with code 1 before it listened" in message
    assert "nothing-here" in message  # the registry's own error, as the server printed it
    assert "token" not in message
