"""Cluster lifecycle: start a local ipyparallel cluster, or connect to a running one.

A cluster started here binds to loopback and is ready in under 3 s on a laptop:
ipyparallel's one-second delay between controller and engines is dropped, the engines
start while the controller does (they find its connection file themselves), and the
heartbeat runs every 250 ms (an engine registers at its first heartbeat). A dead engine
is noticed after 12 missed heartbeats, 3 s, instead of ipyparallel's 30 s. Connection
files are private (0600); the cluster stops when the Python process exits.

To run engines on other hosts, start the cluster with ipyparallel's own launchers
(``ipcluster start --engines=ssh|mpi|slurm|pbs ...``, see ipyparallel's documentation)
and point workbench at it with ``Cluster.connect(profile=...)`` or
``Cluster.connect(connection_file="ipcontroller-client.json")``. The engines' Python
environment needs workbench and scikit-learn installed.

The most recently started or connected cluster is *active*: ``wb.parallel.search`` and
``%ptrain`` use it when they are given none.
"""

from __future__ import annotations

import atexit
import html
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipyparallel as ipp
import psutil

from workbench.errors import ClusterError
from workbench.parallel import _remote

if TYPE_CHECKING:
    from types import TracebackType

HEARTBEAT_ARGS = ["--HeartMonitor.period=250", "--HeartMonitor.max_heartmonitor_misses=12"]
STATUS_TIMEOUT = 2.0

_active: Cluster | None = None


def active_cluster() -> Cluster | None:
    """The most recently started or connected cluster that is still running."""
    return _active


def resolve_cluster(cluster: Cluster | None) -> Cluster:
    """``cluster``, or the active one; a clear error when there is none."""
    resolved = cluster if cluster is not None else _active
    if resolved is None or not resolved.running:
        raise ClusterError("no cluster is running")
    return resolved


@dataclass(frozen=True)
class EngineStatus:
    """One engine: where it runs, its queue and its memory (``None`` when unknown)."""

    id: int
    host: str | None
    pid: int | None
    queued: int
    completed: int
    rss_bytes: int | None


@dataclass(frozen=True)
class ClusterStatus:
    """What ``%cluster status`` shows."""

    cluster_id: str
    owned: bool
    engines: list[EngineStatus] = field(default_factory=list)
    unassigned: int = 0

    def rows(self) -> list[tuple[str, ...]]:
        return [
            (
                str(e.id),
                e.host or "?",
                str(e.pid) if e.pid is not None else "?",
                str(e.queued),
                str(e.completed),
                f"{e.rss_bytes / 2**20:.0f} MiB" if e.rss_bytes is not None else "?",
            )
            for e in self.engines
        ]

    HEADER = ("engine", "host", "pid", "queued", "completed", "memory")

    def __str__(self) -> str:
        kind = "started here" if self.owned else "connected"
        lines = [
            f"cluster {self.cluster_id} ({kind}): {len(self.engines)} engines, "
            f"{self.unassigned} tasks waiting for an engine"
        ]
        table = [self.HEADER, *self.rows()]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.HEADER))]
        lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows()
        )
        caption = html.escape(str(self).splitlines()[0])
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"


class Cluster:
    """A connection to an ipyparallel cluster, and its processes when started here.

    Use :meth:`start` or :meth:`connect`; :meth:`stop` shuts down what was started here
    and only disconnects from a cluster that was connected to.
    """

    def __init__(self, client: ipp.Client, *, ipp_cluster: ipp.Cluster | None = None) -> None:
        global _active
        self._client = client
        self._ipp_cluster = ipp_cluster
        self._engine_info: dict[int, dict[str, Any]] = {}
        self._stopped = False
        atexit.register(self.stop)
        _active = self

    @classmethod
    def start(
        cls, n: int | None = None, *, profile_dir: str | os.PathLike[str] | None = None, timeout: float = 60.0
    ) -> Cluster:
        """Start a controller and ``n`` engines (default: one per core) on this machine."""
        n = n if n is not None else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"a cluster needs at least one engine, not n={n}")
        options: dict[str, Any] = {}
        if profile_dir is not None:
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            options["profile_dir"] = os.fspath(Path(profile_dir).resolve())
        ipc = ipp.Cluster(
            n=n,
            delay=0,
            log_level=logging.ERROR,  # engines stopped by SIGTERM are not news
            shutdown_atexit=False,
            controller_args=HEARTBEAT_ARGS,
            send_engines_connection_env=False,
            engine_timeout=int(timeout),
            **options,
        )
        client = None
        try:
            ipc.start_controller_sync()
            ipc.start_engines_sync(n, environment={"PYTHONPATH": _engine_pythonpath()})
            client = ipc.connect_client_sync()
            client.wait_for_engines(n, timeout=timeout, interactive=False)
        except BaseException as exc:  # an interrupted start leaves no process behind either
            if client is not None:
                client.close()
            ipc.stop_cluster_sync()
            if not isinstance(exc, Exception):
                raise
            raise ClusterError(
                f"the cluster did not start {n} engines within {timeout:g} s: {exc}",
                hint="look at the engine logs in the profile's log folder; try fewer engines",
            ) from exc
        _make_private(ipc)
        cluster = cls(client, ipp_cluster=ipc)
        cluster.engine_info(timeout=timeout)
        client[:].apply_async(_remote.warm_up)  # in the background: the cluster is ready now
        return cluster

    @classmethod
    def connect(
        cls,
        *,
        profile: str | None = None,
        profile_dir: str | os.PathLike[str] | None = None,
        cluster_id: str | None = None,
        connection_file: str | os.PathLike[str] | None = None,
        min_engines: int = 1,
        timeout: float = 30.0,
    ) -> Cluster:
        """Connect to a running cluster by profile (name or folder) or by its client connection file."""
        kwargs: dict[str, Any] = {"timeout": timeout}
        if connection_file is not None:
            kwargs["connection_info"] = os.fspath(connection_file)
        else:
            if profile is not None:
                kwargs["profile"] = profile
            if profile_dir is not None:
                kwargs["profile_dir"] = os.fspath(profile_dir)
            if cluster_id is not None:
                kwargs["cluster_id"] = cluster_id
        try:
            client = ipp.Client(**kwargs)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot connect to the cluster: {exc}") from exc
        try:
            client.wait_for_engines(min_engines, timeout=timeout, interactive=False)
        except TimeoutError as exc:
            client.close()
            raise ClusterError(
                f"the cluster has {len(client.ids)} engines, fewer than {min_engines} after {timeout:g} s",
                hint="start engines with ipcluster engines (or your launcher), then connect again",
            ) from exc
        cluster = cls(client)
        cluster.engine_info()
        return cluster

    @property
    def client(self) -> ipp.Client:
        if self._stopped:
            raise ClusterError("this cluster was stopped")
        return self._client

    @property
    def cluster_id(self) -> str:
        return self._ipp_cluster.cluster_id if self._ipp_cluster is not None else self._client.cluster_id or ""

    @property
    def owned(self) -> bool:
        """True when this process started the cluster (and :meth:`stop` shuts it down)."""
        return self._ipp_cluster is not None

    @property
    def running(self) -> bool:
        return not self._stopped

    @property
    def engine_ids(self) -> list[int]:
        return list(self.client.ids)

    @property
    def security_dir(self) -> Path | None:
        """The folder of the connection files of a cluster started here."""
        return Path(self._ipp_cluster.profile_dir) / "security" if self._ipp_cluster is not None else None

    def process_ids(self) -> list[int]:
        """Controller and engine processes of a cluster started here (empty when connected)."""
        ipc = self._ipp_cluster
        if ipc is None:
            return []
        pids = [ipc.controller.process.pid] if ipc.controller is not None else []
        for engine_set in ipc.engines.values():
            pids += [launcher.process.pid for launcher in engine_set.launchers.values()]
        return pids

    def engine_info(self, timeout: float = STATUS_TIMEOUT) -> dict[int, dict[str, Any]]:
        """Host and pid of each engine; engines busy for longer than ``timeout`` are left out."""
        missing = [eid for eid in self.engine_ids if eid not in self._engine_info]
        if missing:
            pending = {eid: self.client[eid].apply_async(_remote.engine_info) for eid in missing}
            self.client.wait(list(pending.values()), timeout=timeout)
            for eid, ar in pending.items():
                if ar.ready() and ar.successful():
                    self._engine_info[eid] = ar.get()
        return {eid: info for eid, info in self._engine_info.items() if eid in self.engine_ids}

    def status(self) -> ClusterStatus:
        """Engines, their queues and (for engines on this host) their memory."""
        queues = self.client.queue_status()
        infos = self.engine_info()
        here = socket.gethostname()
        engines = []
        for eid in self.engine_ids:
            info = infos.get(eid, {})
            queue = queues.get(eid, {})
            engines.append(
                EngineStatus(
                    id=eid,
                    host=info.get("host"),
                    pid=info.get("pid"),
                    queued=int(queue.get("queue", 0)) + int(queue.get("tasks", 0)),
                    completed=int(queue.get("completed", 0)),
                    rss_bytes=_rss(info["pid"]) if info.get("host") == here else None,
                )
            )
        return ClusterStatus(
            cluster_id=self.cluster_id,
            owned=self.owned,
            engines=engines,
            unassigned=int(queues.get("unassigned", 0)),
        )

    def stop(self) -> None:
        """Stop the controller and engines started here (or disconnect); safe to call twice."""
        global _active
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if _active is self:
            _active = None
        self._client.close()
        if self._ipp_cluster is not None:
            self._ipp_cluster.stop_cluster_sync()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"{len(self._client.ids)} engines"
        kind = "started here" if self.owned else "connected"
        return f"<workbench Cluster {self.cluster_id!r} ({kind}, {state})>"


def _engine_pythonpath() -> str:
    """Engines import the same workbench as this process, installed or not."""
    here = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([here, existing]) if existing else here


def _make_private(ipc: ipp.Cluster) -> None:
    """Connection files hold the cluster's key: readable by their owner only."""
    security = Path(ipc.profile_dir) / "security"
    for path in security.glob(f"*{ipc.cluster_id}*.json"):
        path.chmod(0o600)


def _rss(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


__all__ = ["Cluster", "ClusterStatus", "EngineStatus", "active_cluster", "resolve_cluster"]
