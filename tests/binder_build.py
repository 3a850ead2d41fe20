"""binder/ as repo2docker builds it for mybinder.org, repeated in a fresh virtual environment.

repo2docker, finding ``binder/``, ignores the files at the top of the repository: it takes
Python's version from ``binder/runtime.txt``, runs ``pip install -r binder/requirements.txt``
from the top of the repository, then ``binder/postBuild``, and JupyterLab opens the notebook
the README's badge names. This check does the same in a new venv (``--no-compile`` only
spares the byte-compiling), then asks the environment's own ``jupyter`` what it lists and a
started ``jupyter lab`` for the start notebook.

It resolves and downloads about 140 packages (over 200 MB) from the package index: minutes,
so it is not part of ``make test``; ``bench/binder.py`` runs it and times it. The quick checks
of the files are in ``tests/test_binder.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.test_binder import BINDER, LAB_EXTENSION, PROJECT, SERVER_EXTENSION, _badge_path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LAB_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/lab")
TOKEN = "binder-test-token-3e9d"
START_TIMEOUT = 120.0


@dataclass
class Built:
    """The environment built as repo2docker builds it, and the settings its programs run with."""

    venv: Path
    env: dict[str, str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *args: str, timeout: float = 300) -> str:
        """Run one of the environment's programs; its output and errors as one text without colours."""
        done = subprocess.run(
            list(args), cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        output = _ANSI.sub("", done.stdout + done.stderr)
        assert done.returncode == 0, f"{args} exited with {done.returncode}:\n{output[-4000:]}"
        return output


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "JUPYTER_", "VIRTUAL_ENV"))}
    environ["PATH"] = f"{venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
    build = Built(venv, environ)
    pip = [build.bin("python"), "-m", "pip", "install", "--no-compile", "--quiet"]
    # about 140 packages resolved against the index and downloaded: minutes on a busy machine
    build.run(*pip, "-r", "binder/requirements.txt", timeout=1200)
    build.run(str(BINDER / "postBuild"))
    yield build
    shutil.rmtree(venv, ignore_errors=True)  # about 1 GB; pytest keeps the last runs' temporary folders


def _listed_lab_extension(listing: str) -> str | None:
    """The line of ``jupyter labextension list`` that lists the repository's lab extension as enabled."""
    name = json.loads(LAB_EXTENSION.read_text())["name"]
    found = re.search(rf"^\s*{re.escape(name)} v\S+ enabled OK\b.*$", listing, re.MULTILINE)
    return found.group(0) if found else None


@contextmanager
def _jupyter_lab(build: Built, home: Path) -> Iterator[str]:
    """``jupyter lab`` of the built environment on a free loopback port; yields its address."""
    for folder in ("home", "config", "data", "runtime", "ipython"):
        (home / folder).mkdir(parents=True)
    env = {
        **build.env,
        "HOME": str(home / "home"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    command = [
        build.bin("jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={PROJECT}",
    ]
    if os.geteuid() == 0:  # CI runs as root, which Jupyter refuses unless told
        command.append("--allow-root")
    log = home / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while (found := _LAB_URL.search(log.read_text())) is None:
            assert process.poll() is None, f"jupyter lab exited:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"jupyter lab printed no address:\n{log.read_text()[-4000:]}"
            time.sleep(0.1)
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.mark.timeout(1500)
def test_the_environment_repo2docker_builds_lists_the_extensions_and_serves_the_start_notebook(
    built: Built, tmp_path: Path
) -> None:
    servers = built.run(built.bin("jupyter"), "server", "extension", "list")
    assert re.search(r"^\s*jupyterlab enabled", servers, re.MULTILINE), servers
    if SERVER_EXTENSION.exists():
        assert re.search(r"^\s*workbench(\.jupyter)? enabled", servers, re.MULTILINE), servers
        assert re.search(r"^\s*workbench(\.jupyter)? +(\S+ )?OK", servers, re.MULTILINE), servers
    labs = built.run(built.bin("jupyter"), "labextension", "list")
    if LAB_EXTENSION.exists():
        assert _listed_lab_extension(labs) is not None, labs

    # the package is installed as its wheel, with what the notebooks and the dashboard need (found, not imported)
    shipped = built.run(
        built.bin("python"),
        "-c",
        "import importlib.util as u, importlib.resources as r;"
        "print([m for m in ('fastapi', 'uvicorn', 'pyarrow', 'matplotlib') if u.find_spec(m) is None],"
        " r.files('workbench.dashboard').joinpath('static/index.html').is_file())",
    )
    assert shipped.strip().endswith("[] True"), shipped
    kernel = json.loads((built.venv / "share/jupyter/kernels/python3/kernel.json").read_text())
    assert Path(kernel["argv"][0]).parent == built.venv / "bin", kernel  # postBuild's kernel, this environment's

    start = _badge_path()
    with _jupyter_lab(built, tmp_path / "lab") as url, httpx.Client(base_url=url, timeout=60) as client:
        auth = {"authorization": f"token {TOKEN}"}
        deadline = time.monotonic() + START_TIMEOUT
        while client.get("/api/status", headers=auth).status_code != 200:
            assert time.monotonic() < deadline, "jupyter lab never answered /api/status"
            time.sleep(0.1)
        notebook = client.get(f"/api/contents/{start.removeprefix('lab/tree/')}", headers=auth)
        assert notebook.status_code == 200, notebook.text
        assert notebook.json()["type"] == "notebook"
        assert any("Start here" in "".join(c["source"]) for c in notebook.json()["content"]["cells"])
        page = client.get(f"/{start}", headers=auth)
        assert page.status_code == 200, page.text[:2000]
        assert "jupyter-config-data" in page.text
        if LAB_EXTENSION.exists():
            name = json.loads(LAB_EXTENSION.read_text())["name"]
            assert f'"name": "{name}"' in page.text, "the lab page does not load the workbench extension"
        kernels = client.get("/api/kernelspecs", headers=auth).json()
        assert "python3" in kernels["kernelspecs"]
        # Jupyter's own authentication stands: nothing without the token (a new client, without the login cookie)
        assert httpx.get(f"{url}/api/contents/{start.removeprefix('lab/tree/')}", timeout=60).status_code == 403
