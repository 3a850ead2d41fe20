"""A retrain's training job, in a process of its own: ``python -m workbench.lifecycle.loop.job SPEC``.

``SPEC`` is JSON: notebook, parameters, job name, run id, timeout. The job is
:func:`workbench.jobs.run` under the run id the loop recorded before starting it, so a loop
that stops (even killed) and starts again finds the run, waits for it and goes on from its
result instead of training twice. The process runs in a session of its own: stopping the
loop (Ctrl-C included) does not stop the job.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from workbench.errors import WorkbenchError
    from workbench.jobs.runner import run

    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    try:
        result = run(
            spec["notebook"],
            spec["parameters"],
            name=spec["job"],
            run_id=spec["run_id"],
            timeout=spec["timeout"],
            check=False,
        )
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    print(f"run {result.run_id} {result.status}" + (f" ({result.reason})" if result.reason else ""))
    return 0 if result.status == "succeeded" else 1


if __name__ == "__main__":  # pragma: no cover - run as a process by the loop
    sys.exit(main())
