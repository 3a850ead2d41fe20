"""``wb.jobs.run``: a notebook as a production job.

Order of work: read the notebook and check its parameters (no kernel yet), record the
run as running, start the kernel with the run's id in its environment, execute, mark the
output notebook, collect what the notebook recorded, store the run. A failed run is
retried with a new run id that points at the first (``retries``).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench import run_context
from workbench.config import Settings, load_settings
from workbench.errors import BadParametersError, JobError, RunFailedError
from workbench.jobs import params as job_params
from workbench.names import validate_name
from workbench.storage import open_storage
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

DEFAULT_KERNEL = "python3"
LIBRARIES = ("workbench", "papermill", "ipykernel", "scikit-learn", "numpy", "pandas", "skops")


def new_run_id() -> str:
    """Sortable by start time, unique across processes: ``20261127-195300-3f9a1c``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def library_versions() -> dict[str, str]:
    import platform

    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def read_notebook(path: Path) -> Any:
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise JobError(f"no notebook at {path}", hint="check the path") from None
    except (OSError, ValueError) as exc:
        raise JobError(f"{path} is not a readable notebook: {exc}", hint="open it in JupyterLab and save it") from exc
    for cell in nb.cells:  # papermill expects these on every cell
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
    return nb


def _collect(run: Run, folder: Path) -> None:
    """Metrics, stage durations and model versions the notebook sent back."""
    for entry in run_context.read_records(folder):
        kind = entry.get("kind")
        if kind == "metric":
            run.metrics[str(entry["key"])] = entry["value"]
        elif kind == "timer":
            label = str(entry["label"])
            run.timers[label] = run.timers.get(label, 0.0) + float(entry["seconds"])
        elif kind == "model":
            run.models.append({"name": entry["name"], "version": entry["version"]})


def _execute_once(
    notebook: Path,
    nb: Any,
    parameters: dict[str, Any],
    *,
    job: str,
    store: RunStore,
    timeout: float | None,
    cell_timeout: float | None,
    kernel: str,
    retry_of: str | None,
    schedule: str | None,
    km: Any = None,
    run_id: str | None = None,
) -> Run:
    from workbench.jobs.execution import execute, start_kernel

    run = Run(
        run_id=run_id or new_run_id(),
        job=job,
        notebook=str(notebook),
        parameters=parameters,
        libraries=library_versions(),
        retry_of=retry_of,
        schedule=schedule,
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    folder = store.run_dir(run.run_id)
    output = folder / "output.ipynb"
    run.output = str(output)
    store.save_run(run)
    started = time.perf_counter()
    nb.metadata["workbench"] = {"run_id": run.run_id, "job": job, "status": "running"}
    env = {run_context.RUN_ID_ENV: run.run_id, run_context.RUN_DIR_ENV: str(folder)}
    try:
        if km is None:
            km = start_kernel(kernel, notebook.parent, env)
        executed, outcome = execute(
            nb, output, km, cwd=notebook.parent, timeout=timeout, cell_timeout=cell_timeout
        )
    except BaseException as exc:
        run.status, run.reason, run.error = "failed", "kernel_died", f"{type(exc).__name__}: {exc}"
        run.ended_at, run.duration = utc_now(), time.perf_counter() - started
        if not output.is_file():
            run.output = None
        store.save_run(run)
        raise
    run.status, run.reason, run.failed_cell, run.error = (
        outcome.status,
        outcome.reason,
        outcome.failed_cell,
        outcome.error,
    )
    run.ended_at, run.duration = utc_now(), time.perf_counter() - started
    _collect(run, folder)
    executed.metadata["workbench"] = {
        "run_id": run.run_id,
        "job": job,
        "status": run.status,
        "reason": run.reason,
        "failed_cell": run.failed_cell,
        "error": run.error,
        "parameters": parameters,
        "metrics": run.metrics,
    }
    import nbformat

    data = nbformat.writes(executed).encode("utf-8")
    from workbench.fsutil import atomic_write_bytes

    atomic_write_bytes(output, data)
    store.save_output(run.run_id, data)
    store.save_run(run)
    return run


def prepare(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    allow_new_params: bool = False,
) -> tuple[Path, Any, dict[str, Any]]:
    """Read the notebook and inject checked parameters; nothing runs yet."""
    path = Path(notebook).resolve()
    nb = read_notebook(path)
    clean = job_params.validate_parameters(parameters or {})
    job_params.check_known(nb, clean, allow_new_params)
    job_params.inject(nb, clean)
    return path, nb, clean


def run(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    retries: int = 0,
    kernel: str | None = None,
    allow_new_params: bool = False,
    check: bool = True,
    settings: Settings | None = None,
    store: RunStore | None = None,
    schedule: str | None = None,
    run_id: str | None = None,
) -> Run:
    """Execute ``notebook`` with ``parameters`` as job ``name`` (default: the file's stem).

    ``run_id`` names the (first) run instead of a new id, for a caller that records the id
    before the run starts (the loop, which follows its training jobs across restarts).

    Returns the :class:`Run`. A failed run raises :class:`RunFailedError` (its ``reason``,
    ``run_id`` and ``run``) unless ``check=False``; refused parameters raise
    :class:`BadParametersError` before any kernel starts (the refusal is recorded too).
    """
    for label, value in (("timeout", timeout), ("cell_timeout", cell_timeout)):
        if value is not None and value <= 0:
            raise JobError(f"{label} must be a positive number of seconds, not {value}")
    if retries < 0:
        raise JobError(f"retries must be 0 or more, not {retries}")
    if run_id is not None:
        validate_name(run_id, "run id")
    settings = settings or load_settings()
    storage = open_storage(settings) if store is None else None
    runs = store or storage.runs  # type: ignore[union-attr]
    try:
        job = validate_name(name or Path(notebook).stem, "job name")
        try:
            path, nb, clean = prepare(notebook, parameters, allow_new_params=allow_new_params)
        except BadParametersError as exc:
            refused = Run(run_id or new_run_id(), job, str(notebook), status="failed", reason="bad_parameters",
                          error=str(exc), ended_at=utc_now())
            runs.save_run(refused)
            raise BadParametersError(exc.message, hint=exc.hint, **exc.fields, run_id=refused.run_id) from exc
        first: Run | None = None
        for attempt in range(retries + 1):
            current = _execute_once(
                path,
                nb if attempt == 0 else prepare(notebook, clean, allow_new_params=True)[1],
                clean,
                job=job,
                store=runs,
                timeout=timeout,
                cell_timeout=cell_timeout,
                kernel=kernel or nb.metadata.get("kernelspec", {}).get("name") or DEFAULT_KERNEL,
                retry_of=first.run_id if first else None,
                schedule=schedule,
                run_id=run_id if attempt == 0 else None,
            )
            first = first or current
            if current.status == "succeeded":
                return current
        assert current is not None
        if check:
            raise RunFailedError(
                f"run {current.run_id} of {job} failed ({current.reason}) at cell {current.failed_cell}: "
                f"{current.error}",
                run_id=current.run_id,
                reason=current.reason,
                run=current,
            )
        return current
    finally:
        if storage is not None:
            storage.close()


__all__ = ["library_versions", "new_run_id", "prepare", "run"]
