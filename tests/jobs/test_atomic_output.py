"""A runner killed while saving leaves the previous complete notebook or the new one."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WRITER = """
import sys
from workbench.jobs.execution import ATOMIC_SCHEME, _AtomicFileHandler
handler = _AtomicFileHandler()
path = ATOMIC_SCHEME + sys.argv[1]
print("ready", flush=True)
i = 0
while True:
    handler.write('{"version": %d, "padding": "%s"}' % (i, "x" * 4_000_000), path)
    i += 1
"""


@pytest.mark.timeout(60)
def test_output_is_never_half_written(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    target = folder / "output.ipynb"
    target.write_text(json.dumps({"version": -1, "padding": ""}))
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55):
        with subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True) as writer:
            assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
            time.sleep(delay)
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
        data = json.loads(target.read_text())  # complete JSON: never a torn file
        assert isinstance(data["version"], int)
    leftovers = [p.name for p in folder.iterdir() if p.name != "output.ipynb"]
    assert all(name.startswith(".output.ipynb.") for name in leftovers)  # only orphaned temp files
