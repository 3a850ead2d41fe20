"""A real JupyterLab (``python -m jupyterlab --port 0``) with the workbench extensions, in a tmp folder
with its own Jupyter dirs, HOME and WORKBENCH_HOME; and headless system Chromium for the UI tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from workbench.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "lab-test-token-51c3"
START_TIMEOUT = 90.0
_ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/")
T = TypeVar("T")

# the gates of the training notebook's model, and a model whose gates no classifier passes
PYPROJECT = """\
[tool.workbench.acceptance.cancer-classifier]
holdout = "sklearn:breast_cancer"
test_size = 0.25
precision = 0.9
recall = 0.9

[tool.workbench.acceptance.strict-classifier]
holdout = "sklearn:breast_cancer"
test_size = 0.25
precision = 0.9999
"""

FAILING_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["rows = 10"]},
        {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {}, "outputs": [],
         "source": ["raise ValueError(f'the source table has only {rows} rows')"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}

SLOW_NOTEBOOK = {
    **FAILING_NOTEBOOK,
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["seconds = 120"]},
        {"cell_type": "code", "execution_count": None, "id": "s", "metadata": {}, "outputs": [],
         "source": ["import time\n", "time.sleep(seconds)"]},
    ],
}


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 60.0, every: float = 0.1) -> T:
    """``condition()``'s first true value; fails the test with ``what`` after ``timeout`` seconds."""
    ends = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > ends:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def make_folder(folder: Path) -> Path:
    """The Lab's root folder: the training notebook, a failing and a slow notebook, the gates."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "notebooks" / "train.ipynb", folder / "train.ipynb")
    (folder / "failing.ipynb").write_text(json.dumps(FAILING_NOTEBOOK))
    (folder / "slow.ipynb").write_text(json.dumps(SLOW_NOTEBOOK))
    (folder / "pyproject.toml").write_text(PYPROJECT)
    return folder


@dataclass
class Lab:
    """A running JupyterLab server and an authenticated client of its workbench API."""

    folder: Path
    home: Path
    jupyter: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    log: Path = field(default_factory=Path)
    client: httpx.Client | None = None

    @property
    def env(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "JUPYTER"))}
        environ.update(
            WORKBENCH_HOME=str(self.home),
            HOME=str(self.jupyter / "home"),
            JUPYTER_CONFIG_DIR=str(self.jupyter / "config"),
            JUPYTER_DATA_DIR=str(self.jupyter / "data"),
            JUPYTER_RUNTIME_DIR=str(self.jupyter / "runtime"),
            IPYTHONDIR=str(self.jupyter / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        return environ

    @property
    def settings(self) -> Settings:
        return load_settings(home=self.home, cwd=self.folder, environ={})

    def start(self) -> Lab:
        """Start the server; return once the workbench API answers."""
        # no news prompt: its notification would sit among the ones the tests look for
        news = self.jupyter / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        self.log = self.jupyter / f"lab-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.port=0",
                 "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.folder}",
                 "--LabApp.news_url=", "--LabApp.notebook_starts_kernel=False",
                 # the committed build in this checkout, even when the installed copy is older
                 f"--LabApp.extra_labextensions_path={ROOT / 'workbench' / 'jupyter'}",
                 "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.folder, env=self.env,
            )

        def address() -> str | None:
            found = _ADDRESS.search(self.log.read_text())
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited:\n{self.log.read_text()}")
            return f"http://127.0.0.1:{found.group(1)}/" if found else None

        self.url = wait_for(address, "JupyterLab to start", START_TIMEOUT)
        self.client = httpx.Client(
            base_url=self.url + "workbench/api/", headers={"Authorization": f"token {TOKEN}"}, timeout=60.0
        )
        wait_for(lambda: self.get("state").status_code == 200, "the workbench API to answer", START_TIMEOUT)
        return self

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        return self.client.get(path, **kwargs)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        assert self.client is not None
        return self.client.post(path, json=body or {})

    def state(self) -> dict[str, Any]:
        response = self.get("state")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def run(self, run_id: str) -> dict[str, Any] | None:
        response = self.get(f"runs/{run_id}")
        return response.json() if response.status_code == 200 else None

    def wait_run(self, run_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """The run's record once it has ended."""

        def ended() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run and run["status"] != "running" else None

        return wait_for(ended, f"run {run_id} to end", timeout)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def new_lab(base: Path) -> Lab:
    return Lab(folder=make_folder(base / "lab"), home=base / "wbhome", jupyter=base / "jupyter")


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab for the tests of this folder, stopped after them (with its ready runner and
    kernel); each test follows its own runs by id."""
    started = new_lab(tmp_path_factory.mktemp("lab")).start()
    yield started
    started.stop()


def open_lab(browser: Any, lab: Lab, path: str = "") -> Any:
    """A new page on the Lab (logged in with its token), once the workbench panel has its first state."""
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    problems: list[str] = []

    def errored(error: Any) -> None:
        # the extension's own errors; JupyterLab's (a notebook opened without a kernel) are not ours to judge
        if "extensions/workbench/" in (error.stack or ""):
            problems.append(f"page error: {error}\n{error.stack}")

    page.on("pageerror", errored)
    page.problems = problems
    page.goto(f"{lab.url}lab/tree/{path}?token={TOKEN}")
    page.wait_for_selector("#workbench-panel[data-fingerprint]", state="attached", timeout=90_000)
    return page
