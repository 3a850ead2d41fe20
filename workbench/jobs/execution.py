"""Execute a prepared notebook with papermill in a kernel workbench controls.

papermill marks a dead kernel's or a timed-out notebook "completed", has no limit on a
whole notebook's time, and writes its output file in place. Here:

- the kernel is started by us (so its environment carries the run id, and a watchdog can
  interrupt, then kill, it when the notebook's total time is up);
- papermill writes through an I/O handler that publishes every save atomically, so a
  killed runner leaves the previous complete file, never half of one;
- the outcome is classified from what the runner saw (cell error, dead kernel, timeout),
  and the output notebook is marked accordingly: status in its metadata, a banner at the
  top, the failing cell tagged, and cells that never ran tagged as such.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.fsutil import atomic_write_bytes
from workbench.jobs.cancel import Cancellation

ATOMIC_SCHEME = "workbench-atomic://"
FAILED_TAG = "workbench-failed-cell"
NOT_RUN_TAG = "workbench-not-run"
BANNER_TAG = "workbench-error-banner"
INTERRUPT_GRACE_S = 5.0
CANCEL_GRACE_S = 2.0
KERNEL_ANSWER_TIMEOUT_S = 60.0  # from the kernel's process start to its first answer
# what jupyter_client raises when a started kernel process never answers, or ends first
_NEVER_ANSWERED = ("Kernel didn't respond", "Kernel died before replying")


class _AtomicFileHandler:
    """papermill I/O for ``workbench-atomic://PATH``: reads plainly, writes atomically."""

    @staticmethod
    def _path(path: str) -> Path:
        return Path(path[len(ATOMIC_SCHEME) :])

    def read(self, path: str) -> str:
        return self._path(path).read_text(encoding="utf-8")

    def write(self, buf: str, path: str) -> None:
        # progress saves: atomic, not fsynced; the runner's final write is durable
        atomic_write_bytes(self._path(path), buf.encode("utf-8"), durable=False)

    def listdir(self, path: str) -> list[str]:
        return [str(p) for p in self._path(path).iterdir()]

    def pretty_path(self, path: str) -> str:
        return str(self._path(path))


ENGINE = "workbench"
_registered = False


def _register_papermill_plugins() -> None:
    """The atomic I/O handler, and an engine that closes its kernel client's sockets
    (nbclient leaves them open when it does not own the kernel manager)."""
    global _registered
    if _registered:
        return
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.iorw import papermill_io
    from papermill.utils import merge_kwargs, remove_args

    class WorkbenchEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            timeout = kwargs.pop("execution_timeout", None)
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            start_timeout = kwargs.pop("start_timeout", 60)
            options = merge_kwargs(kwargs, timeout=timeout, startup_timeout=start_timeout, kernel_name=kernel_name)
            client = PapermillNotebookClient(nb_man, **options)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_io.register(ATOMIC_SCHEME, _AtomicFileHandler())
    papermill_engines.register(ENGINE, WorkbenchEngine)
    _registered = True


@dataclass
class Outcome:
    """How an execution ended, as the runner saw it."""

    status: str  # succeeded | failed | cancelled
    # cell_error | exited | kernel_died | kernel_unavailable | timeout | interrupted | terminated
    reason: str | None = None
    failed_cell: int | None = None
    error: str | None = None


class _Watchdog:
    """Interrupts the kernel when the notebook's time is up or the run is cancelled, and
    kills it if the interrupted cell does not stop within a grace period (at once on a
    second cancel request). ``cause`` says which fired: ``timeout`` or ``cancelled``."""

    POLL_S = 0.1

    def __init__(self, km: Any, seconds: float | None, cancel: Cancellation | None = None) -> None:
        self.km = km
        self.seconds = seconds
        self.cancel = cancel
        self.cause: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="workbench-watchdog")
        if seconds is not None or cancel is not None:
            self._thread.start()

    @property
    def fired(self) -> bool:
        return self.cause is not None

    def _signal(self, sig: int) -> None:
        pid = getattr(self.km.provisioner, "pid", None)
        if pid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.requested

    def _watch(self) -> None:
        deadline = None if self.seconds is None else time.monotonic() + self.seconds
        while not self._done.wait(self.POLL_S):
            if self._cancelled():
                self.cause = "cancelled"
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.cause = "timeout"
                break
        else:
            return
        self._signal(signal.SIGINT)
        grace = CANCEL_GRACE_S if self.cause == "cancelled" else INTERRUPT_GRACE_S
        kill_at = time.monotonic() + grace
        while not self._done.wait(self.POLL_S):
            if time.monotonic() >= kill_at or (self.cancel is not None and self.cancel.urgent):
                self._signal(signal.SIGKILL)
                return

    def stop(self) -> None:
        self._done.set()


def close_thread_event_loop() -> None:
    """Close the event loop that jupyter's ``run_sync`` left on this thread.

    ``run_sync`` gives each thread its own loop and never closes it; a thread that ran a
    job and ends must close it, or the loop and its sockets leak.
    """
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)


def _installed_kernels() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"


def start_kernel(
    kernel_name: str, cwd: Path, env: dict[str, str], start_timeout: float = 60, log: Path | None = None
) -> Any:
    """A started kernel manager for ``kernel_name``; raises :class:`KernelUnavailableError`
    naming the installed kernels when there is no such kernel or its process cannot start.

    ``log`` receives the kernel process's own stdout and stderr (its start-up warnings, its
    messages while shutting down, a crash's last words) instead of the runner's terminal.
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    from workbench.errors import KernelUnavailableError

    # nbclient drives the kernel from its own event loop, so it needs the async manager
    km = AsyncKernelManager(kernel_name=kernel_name)
    streams: dict[str, Any] = {}
    if log is not None:
        streams["stdout"] = streams["stderr"] = open(log, "ab")  # closed below; the kernel keeps its copy
    try:
        run_sync(km.start_kernel)(cwd=str(cwd), env={**os.environ, **env}, **streams)
    except NoSuchKernel:
        raise KernelUnavailableError(
            f"no Jupyter kernel named {kernel_name!r}; installed: {_installed_kernels()}",
            hint="pass --kernel with one of those, or install it with python -m ipykernel install",
            kernel=kernel_name,
        ) from None
    except (OSError, RuntimeError) as exc:
        raise KernelUnavailableError(
            f"the Jupyter kernel {kernel_name!r} could not start: {exc}; installed: {_installed_kernels()}",
            hint="check the kernel with jupyter kernelspec list, or pass --kernel with another",
            kernel=kernel_name,
        ) from exc
    finally:
        if log is not None:
            streams["stdout"].close()
    return km


KERNEL_LOG = "kernel.log"
"""The kernel process's own output, in the run's folder."""


def _last_words(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f"; its last output: {lines[-1].strip()[:300]!r} ({log})" if lines else ""


def stop_kernel(km: Any) -> None:
    """Shut the kernel down and reap its process; safe to call twice."""
    from jupyter_core.utils import run_sync

    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    finally:
        run_sync(km.cleanup_resources)()


def execute(
    nb: Any,
    output: Path,
    km: Any,
    *,
    cwd: Path,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    cancel: Cancellation | None = None,
) -> tuple[Any, Outcome]:
    """Run ``nb`` in the started kernel ``km``, saving progress to ``output``.

    ``cancel``, when requested, stops the kernel and ends the run ``cancelled``.
    Returns the executed notebook (read back from ``output``, as saved) and the outcome.
    The kernel is shut down and the client closed before returning.
    """
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    _register_papermill_plugins()
    watchdog = _Watchdog(km, timeout, cancel)
    outcome = Outcome("succeeded")
    try:
        if cancel is not None and cancel.requested:
            atomic_write_bytes(output, nbformat.writes(nb).encode("utf-8"), durable=False)
            outcome = Outcome("cancelled", cancel.reason, None, f"cancelled by {cancel.signal_name} before it started")
        else:
            papermill.execute_notebook(
                nb,
                ATOMIC_SCHEME + str(output),
                kernel_name=km.kernel_name,
                engine_name=ENGINE,
                km=km,
                cwd=str(cwd),
                progress_bar=False,
                execution_timeout=cell_timeout,
                start_timeout=KERNEL_ANSWER_TIMEOUT_S,
            )
    except PapermillExecutionError as exc:
        if watchdog.cause == "timeout":
            outcome = Outcome("failed", "timeout", None, f"{exc.ename}: {exc.evalue}")
        elif exc.ename == "SystemExit":
            outcome = Outcome("failed", "exited", None, _exit_message(exc.evalue))
        else:
            outcome = Outcome("failed", "cell_error", None, f"{exc.ename}: {exc.evalue}")
    except CellTimeoutError as exc:
        if cell_timeout is None:  # the kernel answered, but its output never finished arriving
            error = f"the kernel stopped sending the cell's output: {exc}"
        else:
            error = f"a cell ran longer than {cell_timeout:g} s: {exc}"
        outcome = Outcome("failed", "timeout", None, error)
    except DeadKernelError as exc:
        reason = "timeout" if watchdog.cause == "timeout" else "kernel_died"
        outcome = Outcome("failed", reason, None, f"the kernel died: {exc}{_last_words(output.parent / KERNEL_LOG)}")
    except RuntimeError as exc:  # after DeadKernelError, which is one
        if not str(exc).startswith(_NEVER_ANSWERED):
            raise
        error = f"the kernel {km.kernel_name!r} started but never answered ({exc})"
        outcome = Outcome("failed", "kernel_unavailable", None, error + _last_words(output.parent / KERNEL_LOG))
    finally:
        watchdog.stop()
        stop_kernel(km)
    if watchdog.cause == "cancelled" and outcome.status == "failed" and cancel is not None:
        outcome = Outcome("cancelled", cancel.reason, None, f"cancelled by {cancel.signal_name}")
    executed = read_output(output, nb)
    if outcome.reason == "timeout" and watchdog.cause == "timeout":
        outcome.error = f"the notebook ran longer than its {timeout:g} s limit"
    if outcome.status == "succeeded":
        outcome = _early_exit(executed) or outcome
    if outcome.status != "succeeded":
        mark_failure(executed, outcome)
    return executed, outcome


def read_output(output: Path, nb: Any) -> Any:
    """The output notebook as last saved (``nb`` itself when nothing was saved yet)."""
    import nbformat

    if not output.is_file():
        return nb
    return nbformat.read(str(output), as_version=4)


def _exit_message(evalue: str) -> str:
    detail = f"SystemExit: {evalue}" if evalue else "SystemExit"
    return f"the notebook stopped itself ({detail}); the cells after it never ran"


def _early_exit(nb: Any) -> Outcome | None:
    """A failed outcome for a notebook that stopped with ``sys.exit(0)`` (papermill ends such a
    run quietly) before its last code cell; None when every code cell ran."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for position, cell in enumerate(code):
        outputs = cell.get("outputs", [])
        exits = [o for o in outputs if o.get("output_type") == "error" and o.get("ename") == "SystemExit"]
        if exits and position < len(code) - 1:
            return Outcome("failed", "exited", None, _exit_message(str(exits[0].get("evalue", ""))))
    return None


def _ran(cell: Any) -> bool:
    return bool(cell.get("metadata", {}).get("papermill", {}).get("start_time"))


def mark_failure(nb: Any, outcome: Outcome) -> None:
    """Tag the failing cell (the first that raised, else the last that started) and the
    cells that never ran; add a banner unless papermill added its own. Sets
    ``outcome.failed_cell`` to the failing cell's index in the output notebook."""
    import nbformat

    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    raised = [i for i in code if any(o.get("output_type") == "error" for o in nb.cells[i].get("outputs", []))]
    started = [i for i in code if _ran(nb.cells[i])]
    if raised:
        outcome.failed_cell = raised[0]
    elif started:
        outcome.failed_cell = started[-1]
    for i in code:
        cell = nb.cells[i]
        tags = cell.metadata.setdefault("tags", [])
        if i == outcome.failed_cell:
            tags.append(FAILED_TAG)
            cell.metadata.setdefault("papermill", {})["status"] = "failed"
        elif not _ran(cell) or (outcome.failed_cell is not None and i > outcome.failed_cell):
            tags.append(NOT_RUN_TAG)
            cell.metadata.setdefault("papermill", {})["status"] = "pending"
    nb.metadata.setdefault("papermill", {})["exception"] = True
    has_papermill_banner = any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)
    if not has_papermill_banner:
        where = f"cell {outcome.failed_cell}" if outcome.failed_cell is not None else "start-up"
        banner = nbformat.v4.new_markdown_cell(
            f'<span style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;">'
            f"Run {outcome.status} ({outcome.reason}) at {where}: {outcome.error}</span>"
        )
        banner.metadata["tags"] = [BANNER_TAG]
        nb.cells.insert(0, banner)
        if outcome.failed_cell is not None:
            outcome.failed_cell += 1


__all__ = [
    "Outcome",
    "close_thread_event_loop",
    "execute",
    "mark_failure",
    "read_output",
    "start_kernel",
    "stop_kernel",
]
