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
from workbench.errors import BadParametersError, JobError, KernelUnavailableError, RunCancelledError, RunFailedError
from workbench.jobs import params as job_params
from workbench.jobs.cancel import Cancellation
from workbench.names import validate_name
from workbench.storage import open_storage
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

DEFAULT_KERNEL = "python3"
LIBRARIES = ("workbench", "papermill", "ipykernel", "scikit-learn", "numpy", "pandas", "skops")


def new_run_id() -> str:
    """Sortable by start time to the microsecond, unique across processes:
    ``20261127-195300-123456-3f9a`` (ids of older versions, ``20261127-195300-3f9a1c``, still read)."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f-") + secrets.token_hex(2)


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
    """The notebook at ``path`` as nbformat 4; a file that is not one raises a one-line
    :class:`JobError` saying what is wrong with it (never a schema dump)."""
    import json

    import nbformat
    from nbformat import ValidationError

    def refuse(problem: str) -> JobError:
        return JobError(f"{path} is not a readable notebook: {problem}", hint="open it in JupyterLab and save it")

    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise JobError(f"no notebook at {path}", hint="check the path") from None
    except IsADirectoryError:
        raise JobError(f"{path} is a folder, not a notebook", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise refuse(str(exc)) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise refuse(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise refuse(f"the JSON is a {type(data).__name__}, not an object with cells and metadata")
    missing = [key for key in ("cells", "metadata", "nbformat") if key not in data]
    if missing and data.get("nbformat") != 3:
        raise refuse(f"the JSON lacks {', '.join(repr(k) for k in missing)}")
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        nbformat.validate(nb)
    except ValidationError as exc:
        raise refuse(str(exc.message).splitlines()[0]) from None
    except Exception as exc:  # nbformat's converters fail on odd shapes in many ways
        raise refuse(f"{type(exc).__name__}: {exc}") from None
    if nb.nbformat_minor < 5:
        # 4.5 gives every cell an id; the cells we add (parameters, banner) have one, and a
        # 4.4 notebook holding them fails validation at every save
        import uuid

        nb.nbformat_minor = 5
        for cell in nb.cells:
            cell.setdefault("id", uuid.uuid4().hex[:8])
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


def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _finish(run: Run, executed: Any, store: RunStore, output: Path) -> None:
    """Write the final output notebook (the run's status in its metadata), then the record."""
    import nbformat

    from workbench.fsutil import atomic_write_bytes

    executed.metadata["workbench"] = {
        "run_id": run.run_id,
        "job": run.job,
        "status": run.status,
        "reason": run.reason,
        "failed_cell": run.failed_cell,
        "error": run.error,
        "parameters": run.parameters,
        "metrics": run.metrics,
    }
    data = nbformat.writes(executed).encode("utf-8")
    atomic_write_bytes(output, data)
    store.save_output(run.run_id, data)
    store.save_run(run)


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
    cancel: Cancellation | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    executor: str | None = None,
) -> Run:
    """One execution, recorded. ``cwd`` is the kernel's working folder (default: the
    notebook's), ``env`` more variables for the kernel, ``executor`` the cluster the run was
    sent to (see :mod:`workbench.jobs.on_cluster`)."""
    from workbench.jobs.execution import (
        KERNEL_LOG,
        Outcome,
        execute,
        mark_failure,
        read_output,
        start_kernel,
    )

    pid = os.getpid()
    run = Run(
        run_id=run_id or new_run_id(),
        job=job,
        notebook=str(notebook),
        parameters=parameters,
        libraries=library_versions(),
        retry_of=retry_of,
        schedule=schedule,
        host=socket.gethostname(),
        pid=pid,
        pid_started=_process_started(pid),
        executor=executor,
    )
    folder = store.run_dir(run.run_id)
    output = folder / "output.ipynb"
    run.output = str(output)
    store.save_run(run)
    started = time.perf_counter()
    nb.metadata["workbench"] = {"run_id": run.run_id, "job": job, "status": "running"}
    env = {**(env or {}), run_context.RUN_ID_ENV: run.run_id, run_context.RUN_DIR_ENV: str(folder)}
    cwd = cwd or notebook.parent
    try:
        if km is None:
            km = start_kernel(kernel, cwd, env, log=folder / KERNEL_LOG)
        executed, outcome = execute(
            nb, output, km, cwd=cwd, timeout=timeout, cell_timeout=cell_timeout, cancel=cancel
        )
    except KernelUnavailableError as exc:
        run.status, run.reason, run.error = "failed", "kernel_unavailable", exc.message
        run.ended_at, run.duration, run.output = utc_now(), time.perf_counter() - started, None
        store.save_run(run)
        return run
    except KeyboardInterrupt:
        # Ctrl-C in a Python session (the CLI turns signals into a Cancellation instead)
        run.status, run.reason, run.error = "cancelled", "interrupted", "interrupted (KeyboardInterrupt)"
        run.ended_at, run.duration = utc_now(), time.perf_counter() - started
        executed = read_output(output, nb)
        mark_failure(executed, Outcome(run.status, run.reason, None, run.error))
        _finish(run, executed, store, output)
        raise
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
    _finish(run, executed, store, output)
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
    if clean:  # as papermill: no injected cell without parameters, so cell numbers stay the notebook's
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
    cancel: Cancellation | None = None,
    on: str | None = None,
) -> Run:
    """Execute ``notebook`` with ``parameters`` as job ``name`` (default: the file's stem).

    ``on`` runs it on an engine of an ipyparallel cluster instead of here: a profile name or
    a client connection file (see :mod:`workbench.jobs.on_cluster`).

    ``run_id`` names the (first) run instead of a new id, for a caller that records the id
    before the run starts (the loop, which follows its training jobs across restarts).

    ``cancel``, once requested (the CLI requests it on SIGINT and SIGTERM), stops the kernel
    and ends the run ``cancelled``, with no retry.

    Returns the :class:`Run`. A failed run raises :class:`RunFailedError` (its ``reason``,
    ``run_id`` and ``run``) and a cancelled one :class:`RunCancelledError`, unless
    ``check=False``; refused parameters raise :class:`BadParametersError` before any kernel
    starts (the refusal is recorded too).
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
    executor = None
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
        execute_once = _execute_once
        if on is not None:
            from workbench.jobs.on_cluster import ClusterExecutor

            executor = ClusterExecutor(on, settings)
            execute_once = executor.execute  # type: ignore[assignment]
        for attempt in range(retries + 1):
            current = execute_once(
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
                cancel=cancel,
            )
            first = first or current
            if current.status in ("succeeded", "cancelled") or current.reason == "kernel_unavailable":
                break
        assert current is not None
        if current.status == "succeeded" or not check:
            return current
        if current.status == "cancelled":
            raise RunCancelledError(
                f"run {current.run_id} of {job} was cancelled ({current.reason})",
                run_id=current.run_id,
                reason=current.reason,
                run=current,
                exit_code=cancel.exit_code if cancel is not None else 1,
            )
        where = f" at cell {current.failed_cell}" if current.failed_cell is not None else ""
        raise RunFailedError(
            f"run {current.run_id} of {job} failed ({current.reason}){where}: {current.error}",
            hint="pass --kernel with an installed kernel" if current.reason == "kernel_unavailable" else None,
            run_id=current.run_id,
            reason=current.reason,
            run=current,
        )
    finally:
        if executor is not None:
            executor.close()
        if storage is not None:
            storage.close()


__all__ = ["library_versions", "new_run_id", "prepare", "run"]
