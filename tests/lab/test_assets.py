"""The prebuilt JupyterLab extension ships in the package, built from the current sources, with the
config that enables the server extension (no npm step; test_server.py checks a real Lab loads both)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "extensions" / "jupyterlab"
BUILT = ROOT / "workbench" / "jupyter" / "labextension"


def test_the_built_extension_comes_from_the_current_sources() -> None:
    names = ["package.json", "package-lock.json", "tsconfig.json", "build.mjs"]
    for folder in ("src", "style"):
        names += sorted(f"{folder}/{p.name}" for p in (SOURCE / folder).iterdir())
    digest = hashlib.sha256()
    for name in names:
        digest.update((SOURCE / name).read_bytes())
    recorded = (BUILT / "sources.sha256").read_text().strip()
    assert recorded == digest.hexdigest(), "the Lab extension's sources changed: run `make labextension`"


def test_the_built_extension_is_complete() -> None:
    package = json.loads((BUILT / "package.json").read_text())
    assert package["name"] == "workbench"
    entry = BUILT / package["jupyterlab"]["_build"]["load"]
    assert entry.is_file()
    chunks = set(re.findall(r'"([0-9a-f]{20})"', entry.read_text()))
    built = {p.name for p in (BUILT / "static").iterdir()}
    for chunk in chunks:
        assert any(chunk in name for name in built), chunk


def test_the_wheel_ships_the_extension_and_the_config_that_enables_the_server_extension() -> None:
    import tomllib

    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["shared-data"] == {
        "workbench/jupyter/labextension": "share/jupyter/labextensions/workbench",
        "jupyter-config/jupyter_server_config.d": "etc/jupyter/jupyter_server_config.d",
    }
    config = json.loads((ROOT / "jupyter-config" / "jupyter_server_config.d" / "workbench.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"workbench.jupyter": True}}}
