"""Jobs on an ipyparallel cluster: ``workbench run --on PROFILE_OR_FILE`` and a schedule's ``executor``.

The notebook runs on one engine of the cluster, the one ipyparallel's load balancer picks.
The engine starts the kernel and runs the notebook with the code of a local run
(:func:`workbench.jobs.runner._execute_once`), so a run on an engine fails for the same
reasons (``cell_error``, ``kernel_died``, ``timeout``, ``exited``, ``kernel_unavailable``),
recorded the same way, plus one:
``engine_lost``, when the engine dies mid-run (killed, out of memory, its host gone). The
controller notices a dead engine after its heartbeat timeout (3 s for clusters started by
``wb.parallel.Cluster.start``, 30 s with ipcluster's defaults); the submitter then records
the run failed. The kernel the engine started exits by itself about a second later: it
watches its parent process.

What the engine needs:

- the notebook travels with the task, so its path need not exist on the engine's host;
  the kernel works in the notebook's folder when that host has it (a shared filesystem),
  in the engine's working folder otherwise;
- the run store: the engine opens the submitter's store, and the kernel gets it as
  ``WORKBENCH_STORE`` (so ``wb.record`` and ``wb.register`` reach it too). A Redis store
  is shared by every host that reaches the server: records, status and the output notebook
  come back through it. A local store (SQLite and files under the home folder) is shared
  only by hosts that see that folder at the same path (the same machine, or a shared
  filesystem): the engine checks it sees the submitter's home before it starts, and the
  run is refused with a clear error when it does not. A memory store cannot be shared.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

from workbench.config import Settings, load_settings
from workbench.errors import JobError, RunNotFoundError
from workbench.jobs.cancel import Cancellation
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

ENGINE_LOST = "engine_lost"
SUBMITTED_FILE = "submitted-to-cluster"
CONNECT_TIMEOUT = 30.0
WAIT_STEP = 0.5
CONTROLLER_TIMEOUT = 10.0  # how long the controller may stay silent before the submitter asks, and waits for it


def _store_kind(url: str) -> str:
    from workbench.storage.backend import scheme_of

    return scheme_of(url)


class ClusterExecutor:
    """Runs prepared notebooks on an engine of the cluster named by ``target``: an
    ipyparallel profile name, or the path of a client connection file (``*.json``)."""

    def __init__(self, target: str, settings: Settings | None = None, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.target = target
        self.settings = settings or load_settings()
        kind = _store_kind(self.settings.store)
        if kind == "memory":
            raise JobError(
                "a memory store lives in one process: an engine cannot record a run in it",
                hint="use the local store (same machine or shared filesystem) or a Redis store",
            )
        self.shares_home = kind == "local"
        self.cluster = connect(target, timeout=timeout)

    def close(self) -> None:
        """Disconnect (the cluster keeps running)."""
        self.cluster.stop()

    def __enter__(self) -> ClusterExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(
        self,
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
        run_id: str | None = None,
        cancel: Any = None,
    ) -> Run:
        """Run ``nb`` on an engine; the same contract as a local execution (a failed run is
        returned, a run that cannot start raises :class:`JobError`). ``cancel``, once
        requested (Ctrl-C, SIGTERM), is carried to the engine as SIGINT: the engine stops the
        kernel and records the run ``cancelled``, as a local run would."""
        import nbformat

        from workbench.jobs.runner import new_run_id

        run_id = run_id or new_run_id()
        token = secrets.token_hex(16)
        if self.shares_home:
            (store.run_dir(run_id) / SUBMITTED_FILE).write_text(token, encoding="utf-8")
        request = {
            "notebook": nbformat.writes(nb),
            "path": str(notebook),
            "parameters": parameters,
            "job": job,
            "timeout": timeout,
            "cell_timeout": cell_timeout,
            "kernel": kernel,
            "retry_of": retry_of,
            "schedule": schedule,
            "run_id": run_id,
            "store": self.settings.store,
            "home": str(self.settings.home) if self.shares_home else None,
            "token": token,
            "executor": self.target,
        }
        submitted = time.perf_counter()
        ar = self.cluster.client.load_balanced_view().apply_async(run_on_engine, request)
        try:
            data = self._wait(ar, cancel)
        except Exception as exc:
            engine = _engine_of(exc, ar)
            where = f"engine {engine} ({self.cluster.host_of(engine) or 'host unknown'})"
            if _engine_died(exc):
                return self._record_lost(store, run_id, where, notebook, job, parameters, retry_of, schedule, submitted)
            message = f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}"
            raise JobError(
                f"the run could not start on {where} of {self.target}: {message}",
                hint="the engine's host needs workbench, the notebook's kernel, and the run store",
            ) from exc
        if data is None:
            raise JobError(
                f"the controller of {self.target} stopped answering while run {run_id} ran on one of its "
                "engines; the run goes on there if that engine still lives, and records its end in the store",
                hint=f"follow it with workbench runs {run_id}; restart the controller before the next run",
            )
        return Run.from_dict(data)

    def _wait(self, ar: Any, cancel: Cancellation | None) -> dict[str, Any] | None:
        """The engine's answer; ``None`` when the controller stops answering (it died, or its host
        is gone), which would otherwise leave ipyparallel's wait hanging for ever. Each new
        request of ``cancel`` is sent to the engine running the task as SIGINT."""
        asked = time.monotonic()
        signalled = 0
        while not ar.ready():
            ar.wait(WAIT_STEP)
            engine = _started_on(ar) if cancel is not None and cancel.count > signalled else None
            if cancel is not None and engine is not None:
                signalled = cancel.count
                self.cluster.client.send_signal(signal.SIGINT, targets=[engine], block=False)
            if time.monotonic() - asked >= CONTROLLER_TIMEOUT and not ar.ready():
                if not self.cluster.controller_answers(CONTROLLER_TIMEOUT):
                    return None
                asked = time.monotonic()
        data: dict[str, Any] = ar.get()
        return data

    def _record_lost(
        self,
        store: RunStore,
        run_id: str,
        where: str,
        notebook: Path,
        job: str,
        parameters: dict[str, Any],
        retry_of: str | None,
        schedule: str | None,
        submitted: float,
    ) -> Run:
        try:
            run = store.get_run(run_id)
        except RunNotFoundError:  # lost before the engine recorded the start
            run = Run(run_id, job, str(notebook), parameters=parameters, retry_of=retry_of, schedule=schedule)
        run.executor = self.target
        run.status, run.reason = "failed", ENGINE_LOST
        run.error = f"{where} died during the run (killed, out of memory, or its host lost)"
        run.ended_at, run.duration = utc_now(), time.perf_counter() - submitted
        if run.output and not Path(run.output).is_file():
            run.output = None  # the progress notebook was on the lost engine's disk
        store.save_run(run)
        return run


def connect(target: str, *, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A :class:`~workbench.parallel.Cluster` connected (not made active) to ``target``."""
    from workbench.parallel.cluster import Cluster

    path = Path(target).expanduser()
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise JobError(
                f"no cluster connection file at {path}",
                hint="give an ipyparallel profile name, or the ipcontroller-client.json file of a running cluster",
            )
        return Cluster.connect(connection_file=path, timeout=timeout, activate=False)
    return Cluster.connect(profile=target, timeout=timeout, activate=False)


def _engine_died(exc: BaseException) -> bool:
    import ipyparallel as ipp

    return isinstance(exc, ipp.error.EngineError) or getattr(exc, "ename", None) == "EngineError"


def _engine_of(exc: BaseException, ar: Any) -> int:
    engine = (getattr(exc, "engine_info", None) or {}).get("engine_id")
    if engine is None:
        try:
            engine = ar.engine_id
        except Exception:  # no metadata: the engine died before answering
            engine = None
    return engine if isinstance(engine, int) else -1


def _started_on(ar: Any) -> int | None:
    """The engine running the task of ``ar``, once the controller has said which."""
    try:
        engine = ar.engine_id
    except Exception:  # not started yet, or no metadata
        return None
    return engine if isinstance(engine, int) else None


# on the engine ------------------------------------------------------------------------


def run_on_engine(request: dict[str, Any]) -> dict[str, Any]:
    """The task an engine runs: the job, in a thread of its own (the engine's own thread
    runs an event loop, and the kernel and papermill need to start theirs).

    A SIGINT to the engine (the submitter's cancel, sent by ``Client.send_signal``) interrupts
    this thread's wait; it becomes a cancel request of the run, as a signal is for a local run.
    """
    outcome: dict[str, Any] = {}
    cancel = Cancellation()
    done = threading.Event()

    def work() -> None:
        from workbench.jobs.execution import close_thread_event_loop

        try:
            outcome["run"] = _run_here(request, cancel)
        except BaseException as exc:  # raised again on the engine's thread, sent to the submitter
            outcome["error"] = exc
        finally:
            close_thread_event_loop()
            done.set()

    thread = threading.Thread(target=work, name=f"workbench-job-{request['run_id']}")
    thread.start()
    while not done.is_set():
        try:
            done.wait()  # not Thread.join: interrupted, it may report a running thread as ended
        except KeyboardInterrupt:
            cancel.request(signal.SIGINT)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: dict[str, Any] = outcome["run"]
    return result


def _run_here(request: dict[str, Any], cancel: Cancellation) -> dict[str, Any]:
    import socket

    import nbformat

    from workbench.jobs.runner import _execute_once
    from workbench.storage import open_storage

    settings = load_settings(home=request["home"], store=request["store"])
    if request["home"] is not None:
        marker = Path(request["home"]) / "runs" / request["run_id"] / SUBMITTED_FILE
        try:
            seen = marker.read_text(encoding="utf-8") == request["token"]
        except OSError:
            seen = False
        if not seen:
            raise JobError(
                f"the engine on {socket.gethostname()} does not see the run store's home {request['home']}: "
                "a local store is shared only by hosts on one filesystem",
                hint="use a Redis store (WORKBENCH_STORE=redis://...) for runs on other hosts, "
                "or put the home on a filesystem every host mounts at the same path",
            )
    path = Path(request["path"])
    cwd = path.parent if path.parent.is_dir() else Path.cwd()
    with open_storage(settings) as storage:
        run = _execute_once(
            path,
            nbformat.reads(request["notebook"], as_version=4),
            request["parameters"],
            job=request["job"],
            store=storage.runs,
            timeout=request["timeout"],
            cell_timeout=request["cell_timeout"],
            kernel=request["kernel"],
            retry_of=request["retry_of"],
            schedule=request["schedule"],
            run_id=request["run_id"],
            cwd=cwd,
            env={"WORKBENCH_STORE": settings.store, "WORKBENCH_HOME": str(settings.home)},
            executor=request["executor"],
            cancel=cancel,
        )
    return run.to_dict()


__all__ = ["ENGINE_LOST", "ClusterExecutor", "connect", "run_on_engine"]
