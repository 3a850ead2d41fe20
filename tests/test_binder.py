"""binder/ as repo2docker builds it for mybinder.org, repeated in a fresh virtual environment.

repo2docker, finding ``binder/``, ignores the files at the top of the repository: it takes
Python's version from ``binder/runtime.txt`` (its default is older than our
``requires-python``), runs ``pip install -r binder/requirements.txt`` from the top of the
repository, then ``binder/postBuild``, and JupyterLab opens the notebook the README's badge
names. Here, the quick checks of those files; ``tests/binder_build.py`` repeats the build in a
fresh venv (minutes of downloads, so ``bench/binder.py`` runs it, not ``make test``).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

PROJECT = Path(__file__).resolve().parents[1]
BINDER = PROJECT / "binder"
# the JupyterLab extension's sources and the Jupyter Server extension: once they are in the
# repository, the built environment must list them as enabled
LAB_EXTENSION = PROJECT / "extensions" / "jupyterlab" / "package.json"
SERVER_EXTENSION = PROJECT / "workbench" / "jupyter" / "__init__.py"
_BADGE = re.compile(r"\(https://mybinder\.org/v2/gh/[^)\s?]+\?urlpath=(lab/tree/[^)\s]+\.ipynb)\)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LAB_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/lab")
TOKEN = "binder-test-token-3e9d"
START_TIMEOUT = 120.0


def _badge_path() -> str:
    found = _BADGE.search((PROJECT / "README.md").read_text())
    assert found is not None, "README.md has no Binder badge with ?urlpath=lab/tree/...ipynb"
    return found.group(1)


def test_binder_files_give_repo2docker_a_python_the_package_accepts_and_a_start_notebook() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    requires = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert runtime.removeprefix("python-") + ".0" in SpecifierSet(requires)

    lines = [line.split("#")[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    # this repository itself, resolved from the top of the repository where repo2docker runs pip
    assert any(re.fullmatch(r"(-e )?\.(\[[\w,]+\])?", line) for line in lines), lines

    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs binder/postBuild only when it is executable"
    assert post_build.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -e" in post_build.read_text()

    start = PROJECT / _badge_path().removeprefix("lab/tree/")
    assert start.is_file(), start
    assert json.loads(start.read_text())["metadata"]["kernelspec"]["name"] == "python3"
