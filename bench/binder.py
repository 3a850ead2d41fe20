"""binder/ built as repo2docker builds it, in a fresh venv, checked and timed.

Runs ``tests/binder_build.py`` (pip install -r binder/requirements.txt from the package index,
binder/postBuild, then the environment's ``jupyter`` listings and a started ``jupyter lab``
serving the start notebook). It downloads about 140 packages, so it lives here rather than in
``make test``. Exits with pytest's code; prints the wall time.

Usage: python bench/binder.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=5", "tests/binder_build.py"],
        cwd=ROOT,
        check=False,
    )
    print(f"binder build and checks: {time.perf_counter() - started:.0f} s, pytest exit code {done.returncode}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
