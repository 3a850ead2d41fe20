"""Concurrent puts of one name from several processes agree on the versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from workbench import datamart

REPO = Path(__file__).resolve().parents[2]
WRITERS = 4

# each writer, once every writer is ready, puts the shared frame and one of its own, then
# the shared one again
WRITER = """
import json, pathlib, sys, time
import pandas as pd
from workbench import datamart
own, folder = int(sys.argv[1]), pathlib.Path(sys.argv[2])
(folder / f"ready-{own}").touch()
deadline = time.monotonic() + 60
while not (folder / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.001)
shared = pd.DataFrame({"x": range(5000), "label": ["a", "b"] * 2500})
first = datamart.put("shared", shared)
mine = datamart.put("shared", pd.DataFrame({"x": [own], "label": ["own"]}))
again = datamart.put("shared", shared)
print(json.dumps([first.version, first.created, mine.version, again.version, again.created]))
"""


def _start_together(folder: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(i), str(folder)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for i in range(WRITERS)
    ]
    deadline = time.monotonic() + 60
    while len(list(folder.glob("ready-*"))) < WRITERS and time.monotonic() < deadline:
        time.sleep(0.01)
    (folder / "go").touch()
    return writers


def test_concurrent_puts_give_one_version_per_content(shared_store_url: str, tmp_path: Path) -> None:
    writers = _start_together(tmp_path)
    results = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
        results.append(json.loads(out))
    shared = {(r[0], r[1]) for r in results} | {(r[3], r[4]) for r in results}
    assert len(shared) == 1, "every writer must see the same version and the first writer's creation time"
    own = {r[2] for r in results}
    assert len(own) == WRITERS
    listed = datamart.versions("shared")
    assert {v.version for v in listed} == own | {next(iter(shared))[0]}
    assert len(listed) == WRITERS + 1
    for version in listed:
        frame = datamart.get("shared", version.version)
        assert isinstance(frame, pd.DataFrame) and len(frame) == version.rows
