"""A joblib backend on an ipyparallel cluster that sends data once and survives dead engines.

ipyparallel's own joblib backend (which this one extends) pickles every argument into
every task, so a search sends its data once per fit, and a task on an engine that dies
is lost. Here:

- numpy arrays of 16 KiB or more travel as *references* (pickle persistent ids); an
  array goes with a task only until every engine is known to hold it, and arrays pushed
  up front (``WorkbenchBackend.push``) never go with a task;
- a task whose engine dies is resubmitted to the other engines up to ``retries`` times,
  to engines on hosts that lost no engine during the call when there are any (a host that
  goes down loses its engines one heartbeat apart: a task resubmitted to a sibling of the
  first engine noticed dead would die again); beyond the retries, or when no engine is
  left, the call fails with an error naming the fits that finished and the fits that were
  lost, within about the controller's heartbeat timeout (3 s for clusters started by
  workbench);
- an exception inside a task becomes a :class:`~workbench.errors.RemoteTaskError`
  carrying the engine id and the remote traceback;
- scikit-learn search fits (candidate x fold) drive a tqdm progress bar with the best
  mean test score so far.

joblib's auto-batching groups tiny tasks so their per-task overhead stays small.
"""

from __future__ import annotations

import io
import itertools
import pickle
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cloudpickle
import ipyparallel as ipp
import numpy as np
from ipyparallel.joblib import IPythonParallelBackend
from joblib import parallel_config
from joblib.parallel import SequentialBackend

from workbench.errors import NoEnginesError, RemoteTaskError, SearchFailedError, WorkbenchError
from workbench.parallel import _remote
from workbench.parallel.cluster import Cluster, resolve_cluster
from workbench.parallel.progress import Progress

INLINE_LIMIT = 16 * 1024
NO_ENGINES_GRACE = 1.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Fit = dict[str, Any]


@dataclass
class TransferStats:
    """What a parallel call sent to the engines.

    ``bytes_sent`` counts task payloads, arrays sent with tasks and arrays pushed up
    front; ``bytes_naive`` is what sending every array with every task would have cost
    (ipyparallel's stock joblib backend).
    """

    tasks: int = 0
    fits: int = 0
    resubmitted: int = 0
    bytes_sent: int = 0
    bytes_pushed: int = 0
    bytes_naive: int = 0


class _DataCache:
    """Arrays known to the engines, by identity, and which engine holds which."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[int, str] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self._held: dict[int, set[str]] = {}
        self._counter = itertools.count()

    def key_for(self, array: np.ndarray) -> str:
        with self._lock:
            key = self._keys.get(id(array))
            if key is None:
                key = f"wb-{next(self._counter)}-{array.dtype.str}-{'x'.join(map(str, array.shape))}"
                self._keys[id(array)] = key
                self.arrays[key] = array  # held, so that the id stays unique
            return key

    def missing(self, keys: set[str], engines: list[int]) -> dict[str, np.ndarray]:
        """The arrays among ``keys`` that some engine is not known to hold."""
        with self._lock:
            return {
                key: self.arrays[key]
                for key in sorted(keys)
                if any(key not in self._held.get(eid, ()) for eid in engines)
            }

    def mark(self, engine: int, keys: list[str]) -> None:
        with self._lock:
            self._held.setdefault(engine, set()).update(keys)

    def clear(self) -> list[str]:
        with self._lock:
            keys = list(self.arrays)
            self._keys.clear()
            self.arrays.clear()
            self._held.clear()
            return keys


class _Pickler(cloudpickle.Pickler):
    """Pickles large arrays as references into the engines' store."""

    def __init__(self, file: io.BytesIO, cache: _DataCache) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._cache = cache
        self.keys: set[str] = set()

    def persistent_id(self, obj: Any) -> str | None:
        if type(obj) is np.ndarray and obj.dtype != object and obj.nbytes >= INLINE_LIMIT:
            key = self._cache.key_for(obj)
            self.keys.add(key)
            return key
        return None


class _Batch:
    """One joblib batch as sent to the cluster; also the future joblib holds."""

    def __init__(self, payload: bytes, keys: set[str], fits: list[Fit], callback: Callable[[Any], Any]):
        self.payload = payload
        self.keys = keys
        self.fits = fits
        self.callback = callback
        self.attempts = 0
        self.sent_keys: list[str] = []
        self.ar: ipp.AsyncResult | None = None
        self.result: Any = None
        self.error: BaseException | None = None


class WorkbenchBackend(IPythonParallelBackend):
    """joblib backend on a workbench :class:`Cluster`; see the module docstring."""

    supports_retrieve_callback = True

    def __init__(
        self,
        cluster: Cluster,
        *,
        retries: int = 1,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        super().__init__(view=cluster.client.load_balanced_view(), **kwargs)
        self.cluster = cluster
        self.retries = retries
        self.progress = progress
        self.stats = TransferStats()
        self.finished: list[Fit] = []
        self._cache = _DataCache()
        self._lock = threading.Lock()
        self._outstanding: dict[int, _Batch] = {}
        self._done: queue.Queue[tuple[_Batch, ipp.AsyncResult] | None] = queue.Queue()
        self._runner: threading.Thread | None = None
        self._aborted = False
        self._task_numbers = itertools.count()
        self._no_engines_since: float | None = None
        self._lost_hosts: set[str] = set()
        cluster.engine_info()  # the host of every engine, for resubmissions after a death

    # joblib interface -------------------------------------------------------------

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        """One per engine, and at least 2 (joblib runs a one-worker call in this process),
        except for code that asks for a single job (``n_jobs`` 1 or None): it stays here."""
        if n_jobs is None or n_jobs == 1:
            return 1
        return max(2, len(self.cluster.engine_ids))

    def get_nested_backend(self) -> tuple[SequentialBackend, None]:
        """Code inside a task runs sequentially: each engine is one worker already."""
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None

    def start_call(self) -> None:
        self._aborted = False
        if self._runner is None:
            self._runner = threading.Thread(target=self._run, name="workbench-parallel", daemon=True)
            self._runner.start()

    def stop_call(self) -> None:
        if self._runner is not None:
            self._done.put(None)
            self._runner.join()
            self._runner = None

    def submit(self, func: Any, callback: Callable[[Any], Any] | None = None) -> _Batch:
        buffer = io.BytesIO()
        pickler = _Pickler(buffer, self._cache)
        pickler.dump(func)
        batch = _Batch(buffer.getvalue(), pickler.keys, self._describe(func), callback or (lambda _b: None))
        if self.progress is not None:
            self.progress.begin(batch.fits)
        self._send(batch)
        return batch

    def retrieve_result_callback(self, out: _Batch) -> Any:
        if out.error is not None:
            raise out.error
        return out.result

    def abort_everything(self, ensure_ready: bool = True) -> None:
        with self._lock:
            self._aborted = True
            pending = [b.ar.msg_ids[0] for b in self._outstanding.values() if b.ar is not None]
            self._outstanding.clear()
        if pending and self.cluster.running and self.cluster.engine_ids:
            try:
                self.cluster.client.abort(pending, block=False)
            except ipp.error.NoEnginesRegistered:
                pass  # the last engine died meanwhile: nothing left to abort

    def terminate(self) -> None:
        """Forget the arrays held for this call, here and on the engines."""
        keys = self._cache.clear()
        if keys and self.cluster.running and self.cluster.engine_ids:
            self.cluster.client[:].apply_async(_remote.drop, keys)

    # pushing data up front --------------------------------------------------------

    def push(self, *objects: Any) -> None:
        """Send the large arrays inside ``objects`` to every engine now, not with the tasks."""
        buffer = io.BytesIO()
        pickler = _Pickler(buffer, self._cache)
        pickler.dump(objects)
        engines = self.cluster.engine_ids
        arrays = self._cache.missing(pickler.keys, engines)
        if not arrays or not engines:
            return
        self.cluster.client[engines].apply_sync(_remote.store, arrays)
        for eid in engines:
            self._cache.mark(eid, list(arrays))
        size = sum(a.nbytes for a in arrays.values()) * len(engines)
        self.stats.bytes_pushed += size
        self.stats.bytes_sent += size

    # sending and receiving --------------------------------------------------------

    def _describe(self, func: Any) -> list[Fit]:
        """(candidate, split) of each scikit-learn fit in a batch; a task number otherwise."""
        fits: list[Fit] = []
        for _function, _args, kwargs in getattr(func, "items", [(None, (), {})]):
            candidate, split = kwargs.get("candidate_progress"), kwargs.get("split_progress")
            if candidate is not None and split is not None:
                fits.append(
                    {
                        "candidate": candidate[0],
                        "split": split[0],
                        "params": kwargs.get("parameters"),
                        "n_candidates": candidate[1],
                        "n_splits": split[1],
                    }
                )
            else:
                fits.append({"task": next(self._task_numbers)})
        return fits

    def _send(self, batch: _Batch) -> None:
        engines = self.cluster.engine_ids
        extras = self._cache.missing(batch.keys, engines)
        batch.sent_keys = list(extras)
        view = self._view if batch.attempts == 0 else self._resubmission_view(engines)
        with self._lock:
            if self._aborted:
                return
            batch.ar = view.apply_async(_remote.run, batch.payload, extras)
            self._outstanding[id(batch)] = batch
        naive = len(batch.payload) + sum(self._cache.arrays[k].nbytes for k in batch.keys)
        self.stats.tasks += 1
        self.stats.bytes_sent += len(batch.payload) + sum(a.nbytes for a in extras.values())
        self.stats.bytes_naive += naive
        ar = batch.ar
        ar.add_done_callback(lambda _future: self._done.put((batch, ar)))

    def _run(self) -> None:
        """Handle finished tasks in order of completion; watch for a cluster with no engine."""
        while True:
            try:
                item = self._done.get(timeout=0.25)
            except queue.Empty:
                item = None
            else:
                if item is None:
                    return
                batch, ar = item
                try:
                    self._handle(batch, ar)
                except Exception as exc:  # never leave joblib waiting on a dead thread
                    batch.error = exc
                    self._complete(batch)
            self._watch_engines()

    def _handle(self, batch: _Batch, ar: Any) -> None:
        with self._lock:
            current = self._outstanding.get(id(batch)) is batch and batch.ar is ar
        if not current:
            return  # aborted, or a late notice about an attempt already resubmitted
        try:
            batch.result = ar.get(0)
        except (ipp.error.RemoteError, ipp.error.EngineError) as exc:
            if _engine_died(exc):
                self._retry(batch, exc)
                return
            batch.error = _remote_error(exc, batch.fits)
        else:
            engine = ar.engine_id
            if isinstance(engine, int):
                self._cache.mark(engine, batch.sent_keys)
            self._record(batch)
        self._complete(batch)

    def _record(self, batch: _Batch) -> None:
        results = batch.result if isinstance(batch.result, list) else [batch.result] * len(batch.fits)
        for fit, result in zip(batch.fits, results, strict=False):
            if isinstance(result, dict) and "test_scores" in result:
                fit["test_scores"] = result["test_scores"]
            self.finished.append(fit)
        self.stats.fits += len(batch.fits)
        if self.progress is not None:
            self.progress.update(batch.fits)

    def _complete(self, batch: _Batch) -> None:
        with self._lock:
            self._outstanding.pop(id(batch), None)
        batch.callback(batch)

    def _resubmission_view(self, engines: list[int]) -> Any:
        """The engines on hosts that lost none during this call (all engines when there are none)."""
        healthy = [eid for eid in engines if self.cluster.host_of(eid) not in self._lost_hosts]
        if not self._lost_hosts or not healthy or len(healthy) == len(engines):
            return self._view
        return self.cluster.client.load_balanced_view(targets=healthy)

    def _retry(self, batch: _Batch, cause: BaseException) -> None:
        host = self.cluster.host_of(_dead_engine(cause, batch.ar))
        if host is not None:
            self._lost_hosts.add(host)
        if batch.attempts < self.retries and self.cluster.engine_ids:
            batch.attempts += 1
            self.stats.resubmitted += len(batch.fits)
            with self._lock:
                self._outstanding.pop(id(batch), None)
            self._send(batch)
            return
        self._fail(batch, cause)

    def _watch_engines(self) -> None:
        with self._lock:
            waiting = list(self._outstanding.values())
        if not waiting or not self.cluster.running or self.cluster.engine_ids:
            self._no_engines_since = None
            return
        now = time.monotonic()
        if self._no_engines_since is None:
            self._no_engines_since = now
        elif now - self._no_engines_since > NO_ENGINES_GRACE:
            self._fail(waiting[0], None)

    def _fail(self, batch: _Batch, cause: BaseException | None) -> None:
        """End the call: the engines are gone, or a task's engines died too often."""
        with self._lock:
            lost = [fit for b in self._outstanding.values() for fit in b.fits]
        total = _total_fits(self.finished + lost)
        summary = f"{len(self.finished)} of {total} fits finished" if total else f"{len(self.finished)} finished"
        cls: type[WorkbenchError]
        if not self.cluster.engine_ids:
            cls, what = NoEnginesError, "every engine of the cluster died"
        else:
            deaths = batch.attempts + 1
            cls, what = SearchFailedError, f"a task's engine died {deaths} time(s), beyond retries={self.retries}"
        error = cls(
            f"{what}; {summary}, lost: {_fit_names(lost)}",
            finished=list(self.finished),
            lost=lost,
        )
        error.__cause__ = cause
        batch.error = error
        self._complete(batch)


def _engine_died(exc: BaseException) -> bool:
    return isinstance(exc, ipp.error.EngineError) or getattr(exc, "ename", None) == "EngineError"


def _dead_engine(exc: BaseException, ar: Any) -> int:
    """The id of the engine whose death ``exc`` reports (-1 when it does not say)."""
    engine = (getattr(exc, "engine_info", None) or {}).get("engine_id")
    if engine is None and ar is not None:
        try:
            engine = ar.engine_id
        except Exception:  # no metadata: the engine died before answering
            engine = None
    return engine if isinstance(engine, int) else -1


def _remote_error(exc: BaseException, fits: list[Fit]) -> RemoteTaskError:
    info = getattr(exc, "engine_info", None) or {}
    engine_id = info.get("engine_id")
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    traceback = _ANSI.sub("", getattr(exc, "traceback", "") or "")
    error = RemoteTaskError(
        f"{ename}: {evalue} (in {_fit_names(fits)} on engine {engine_id})\n\n"
        f"Remote traceback from engine {engine_id}:\n{traceback}",
        engine_id=engine_id,
        ename=ename,
        evalue=evalue,
        remote_traceback=traceback,
        fits=fits,
    )
    error.__cause__ = exc
    return error


def _total_fits(fits: list[Fit]) -> int | None:
    for fit in fits:
        if "n_candidates" in fit:
            return int(fit["n_candidates"]) * int(fit["n_splits"])
    return None


def _fit_names(fits: list[Fit]) -> str:
    if not fits:
        return "none"
    names = [
        f"candidate {f['candidate']} split {f['split']}" if "candidate" in f else f"task {f['task']}"
        for f in fits[:8]
    ]
    more = f" and {len(fits) - 8} more" if len(fits) > 8 else ""
    return ", ".join(names) + more


def backend_config(be: WorkbenchBackend) -> Any:
    """joblib's configuration that sends ``Parallel`` calls with ``n_jobs`` other than 1 to ``be``.

    ``n_jobs`` is left alone: code that asks for one job keeps running here, as with
    any joblib backend.
    """
    return parallel_config(backend=be)


@contextmanager
def backend(
    cluster: Cluster | None = None, *, retries: int = 1, progress: bool = False
) -> Iterator[WorkbenchBackend]:
    """Run joblib code (any scikit-learn ``n_jobs``) on the cluster inside the block.

    ``cluster`` defaults to the active one. The backend is yielded; its ``stats`` say how
    many tasks and bytes were sent.
    """
    resolved = resolve_cluster(cluster)
    be = WorkbenchBackend(resolved, retries=retries, progress=Progress() if progress else None)
    try:
        with backend_config(be):
            yield be
    finally:
        be.stop_call()
        be.terminate()
        if be.progress is not None:
            be.progress.close()


__all__ = ["TransferStats", "WorkbenchBackend", "backend", "backend_config"]
