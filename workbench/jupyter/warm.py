"""A ``workbench run`` waiting with its kernel started: ``python -m workbench.jupyter.warm --run-id ID``.

The Lab server keeps one of these ready, so a run started from the Lab skips the process's
imports and the kernel's start (seconds) and its first cell runs at once. The process
starts the kernel (with the run's id in its environment, as ``workbench run`` does), then
reads one job as a JSON line on stdin: ``{"notebook", "parameters", "name"}``. It then runs
exactly as ``workbench run`` would, in its own session, so it outlives the Lab server. End of
input without a job (the Lab server stopped) stops the kernel and exits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

READY_FILE = "ready"
"""Created in the run's folder once the kernel answers, removed when the job comes."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.jupyter.warm")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--cwd", required=True, type=Path)
    args = parser.parse_args(argv)

    # what a run imports (papermill, nbformat and its schema checks take seconds): done before the job comes
    import papermill.inspection  # noqa: F401

    from workbench import run_context
    from workbench.jobs.execution import _register_papermill_plugins, start_kernel, stop_kernel
    from workbench.jobs.runner import DEFAULT_KERNEL, _execute_once, prepare
    from workbench.storage import open_storage

    _register_papermill_plugins()

    with open_storage() as storage:
        store = storage.runs
        folder = store.run_dir(args.run_id)
        env = {run_context.RUN_ID_ENV: args.run_id, run_context.RUN_DIR_ENV: str(folder)}
        cwd = args.cwd.resolve()
        km = start_kernel(args.kernel, cwd, env)
        ready = folder / READY_FILE
        ready.touch()
        line = sys.stdin.readline()
        ready.unlink(missing_ok=True)
        if not line:
            stop_kernel(km)
            shutil.rmtree(folder, ignore_errors=True)  # no run happened: leave nothing in the store
            return 0
        keep = False  # a bad order, or a cancel before the run began, stops the kernel too
        try:
            job = json.loads(line)
            path, nb, clean = prepare(job["notebook"], job["parameters"])
            kernel = nb.metadata.get("kernelspec", {}).get("name") or DEFAULT_KERNEL
            keep = (kernel, path.parent) == (args.kernel, cwd)  # the kernel and folder it waited in
        finally:
            if not keep:
                stop_kernel(km)
        if not keep:
            km = None
        run = _execute_once(
            path, nb, clean, job=job["name"], store=store, timeout=None, cell_timeout=None, kernel=kernel,
            retry_of=None, schedule=None, km=km, run_id=args.run_id,
        )
        print(run)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
