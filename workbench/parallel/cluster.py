"""Cluster lifecycle: start a local ipyparallel cluster, or connect to a running one.

A cluster started here binds to loopback and is ready in under 3 s on a laptop:
ipyparallel's one-second delay between controller and engines is dropped, the engines
start while the controller does (they find its connection file themselves), and the
heartbeat runs every 250 ms (an engine registers at its first heartbeat). A dead engine
is noticed after 12 missed heartbeats, 3 s, instead of ipyparallel's 30 s. Connection
files are private (0600).

Its processes end with it: :meth:`Cluster.stop` returns once every process it started
(controller, engines, their nannies) is gone, the cluster stops when the Python process
exits, and a small watcher (:mod:`workbench.parallel.reaper`) stops it when that process is
killed (SIGKILL, out of memory) and cannot stop it itself.

Engines on other hosts: ``Cluster.start(launcher="ssh" | "mpi" | "slurm" | "pbs" | "lsf" |
..., controller_ip=..., config=...)`` starts them with ipyparallel's own launchers, or start
the cluster with ``ipcluster`` and point workbench at it with ``Cluster.connect(profile=...)``
or ``Cluster.connect(connection_file="ipcontroller-client.json")``. The engines' Python
environment needs workbench and scikit-learn installed. ``%cluster status`` groups the
engines by host: an engine's host is its host name, or ``WORKBENCH_ENGINE_HOST`` when set in
its environment (on Kubernetes, the node name from the downward API).

The most recently started or connected cluster is *active*: ``wb.parallel.search`` and
``%ptrain`` use it when they are given none.
"""

from __future__ import annotations

import atexit
import html
import ipaddress
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import ipyparallel as ipp
import psutil

from workbench.errors import ClusterError
from workbench.parallel import _remote
from workbench.parallel.reaper import group_leaders, group_members, stop_processes

if TYPE_CHECKING:
    from types import TracebackType

HEARTBEAT_ARGS = ["--HeartMonitor.period=250", "--HeartMonitor.max_heartmonitor_misses=12"]
STATUS_TIMEOUT = 2.0
STOP_GRACE = 1  # seconds an engine or the controller gets after SIGTERM (ipyparallel's: 5)
LAUNCHER_GROUPS = {"engine": "ipyparallel.engine_launchers", "controller": "ipyparallel.controller_launchers"}

log = logging.getLogger("workbench.parallel")

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

    @property
    def hosts(self) -> dict[str, list[int]]:
        """Engine ids by host, hosts in order of their first engine ("?" for an engine that did not answer)."""
        hosts: dict[str, list[int]] = {}
        for engine in self.engines:
            hosts.setdefault(engine.host or "?", []).append(engine.id)
        return hosts

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
            f"cluster {self.cluster_id} ({kind}): {len(self.engines)} engines on {_plural(len(self.hosts), 'host')}, "
            f"{self.unassigned} tasks waiting for an engine"
        ]
        lines += [
            f"  {host}: {_plural(len(ids), 'engine')} ({', '.join(map(str, ids))})" for host, ids in self.hosts.items()
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
        hosts = "".join(
            f"<li>{html.escape(host)}: {_plural(len(ids), 'engine')} ({', '.join(map(str, ids))})</li>"
            for host, ids in self.hosts.items()
        )
        return f"<ul>{hosts}</ul><table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"


class Cluster:
    """A connection to an ipyparallel cluster, and its processes when started here.

    Use :meth:`start` or :meth:`connect`; :meth:`stop` shuts down what was started here
    and only disconnects from a cluster that was connected to.
    """

    def __init__(
        self,
        client: ipp.Client,
        *,
        ipp_cluster: ipp.Cluster | None = None,
        reaper: _Reaper | None = None,
        activate: bool = True,
    ) -> None:
        global _active
        self._client = client
        self._ipp_cluster = ipp_cluster
        self._reaper = reaper
        self._engine_info: dict[int, dict[str, Any]] = {}
        self._stopped = False
        atexit.register(self.stop)
        if activate:
            _active = self

    @classmethod
    def start(
        cls,
        n: int | None = None,
        *,
        profile_dir: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        launcher: str | type | None = None,
        controller_launcher: str | type | None = None,
        controller_ip: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Cluster:
        """Start a controller and ``n`` engines (default: one per core of this machine).

        ``launcher`` says how the engines start: on this machine (the default), or with one of
        ipyparallel's engine launchers, by its name (``"ssh"``, ``"mpi"``, ``"slurm"``,
        ``"pbs"``, ``"lsf"``, ``"sge"``, ``"htcondor"``, or any registered in the
        ``ipyparallel.engine_launchers`` entry points) or its class; ``controller_launcher``
        likewise for the controller. ``config`` configures them, by class name, as
        ipyparallel's ``ipcluster_config.py`` does (which is read from the profile too), e.g.
        ``{"SSHEngineSetLauncher": {"engines": {"node1": 8, "node2": 8}}}``; with such
        launchers the number of engines may come from there, and ``n`` is ignored.

        The controller listens on 127.0.0.1 unless ``controller_ip`` names another address
        (``"0.0.0.0"``: every interface), which engines on other hosts need; a warning is
        logged then, since anyone who can reach it and holds the connection file's key can
        run code on the engines.
        """
        local = launcher is None
        n = n if n is not None else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"a cluster needs at least one engine, not n={n}")
        options: dict[str, Any] = {}
        if profile_dir is not None:
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            options["profile_dir"] = os.fspath(Path(profile_dir).resolve())
        if launcher is not None:
            options["engine_launcher_class"] = _launcher(launcher, "engine")
        if controller_launcher is not None:
            options["controller_launcher_class"] = _launcher(controller_launcher, "controller")
        if controller_ip is not None:
            _warn_if_exposed(controller_ip)
            options["controller_ip"] = controller_ip
        try:
            ipc = ipp.Cluster(
                n=n,
                delay=0,
                log_level=logging.ERROR,  # engines stopped by SIGTERM are not news
                shutdown_atexit=False,
                controller_args=HEARTBEAT_ARGS,
                send_engines_connection_env=not local,  # engines elsewhere cannot read this profile
                engine_timeout=int(timeout),
                config=_config(config),
                **options,
            )
        except Exception as exc:  # traitlets' TraitError, an import error of a launcher path
            raise ClusterError(
                f"ipyparallel refused the cluster's settings: {exc}",
                hint="launchers are ipyparallel launcher names or classes; config maps class names to options",
            ) from exc
        if not local:
            local = issubclass(ipc.engine_launcher_class, ipp.cluster.launcher.LocalEngineSetLauncher)
        reaper = _Reaper.start()
        client = None
        expected = n
        try:
            ipc.start_controller_sync()
            reaper.watch(_local_processes(ipc))
            environment = {"PYTHONPATH": _engine_pythonpath()} if local else {}
            ipc.start_engines_sync(n, environment=environment)
            reaper.watch(_local_processes(ipc))
            expected = sum(int(getattr(engine_set, "n", None) or n) for engine_set in ipc.engines.values())
            client = ipc.connect_client_sync()
            client.wait_for_engines(expected, timeout=timeout, interactive=False)
        except BaseException as exc:  # an interrupted start leaves no process behind either
            if client is not None:
                client.close()
            _shutdown(ipc, reaper)
            if not isinstance(exc, Exception):
                raise
            where = "" if local or controller_ip else "; the controller listens on 127.0.0.1: pass controller_ip="
            raise ClusterError(
                f"the cluster did not start {expected} engines within {timeout:g} s: {exc}{where}",
                hint=f"look at the engine logs in {Path(ipc.profile_dir) / 'log'}; try fewer engines",
            ) from exc
        _make_private(ipc)
        cluster = cls(client, ipp_cluster=ipc, reaper=reaper)
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
        activate: bool = True,
    ) -> Cluster:
        """Connect to a running cluster by profile (name or folder) or by its client connection file.

        ``activate=False`` leaves the active cluster (the one searches use by default) as it is."""
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
        cluster = cls(client, activate=activate)
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
        """Controller and engine processes started on this machine (empty when connected).

        With a batch launcher (Slurm, PBS, ...) the engines run elsewhere and are not listed;
        with SSH or MPI the local ``ssh`` / ``mpiexec`` processes are."""
        if self._ipp_cluster is None:
            return []
        return [process.pid for process in _local_processes(self._ipp_cluster)]

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

    def controller_answers(self, timeout: float) -> bool:
        """Whether the controller answers a queue-status request within ``timeout`` seconds.

        ipyparallel's client waits for a reply without limit (a dead controller leaves every
        wait hanging), so the request runs on a daemon thread that is left behind if it never
        returns.
        """
        answered = threading.Event()

        def ask() -> None:
            try:
                self.client.queue_status()
            except Exception:  # a closed client or an error reply: not an answer to rely on
                return
            answered.set()

        threading.Thread(target=ask, name="workbench-controller-probe", daemon=True).start()
        return answered.wait(timeout)

    def host_of(self, engine_id: int) -> str | None:
        """The host of an engine seen by :meth:`engine_info`, still known after the engine is gone."""
        return self._engine_info.get(engine_id, {}).get("host")

    def status(self) -> ClusterStatus:
        """Engines grouped by host, their queues and (for engines on this machine) their memory."""
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
                    rss_bytes=_rss(info["pid"]) if info.get("machine", info.get("host")) == here else None,
                )
            )
        order = {host: rank for rank, host in enumerate(dict.fromkeys(e.host for e in engines))}
        engines.sort(key=lambda e: (order[e.host], e.id))
        return ClusterStatus(
            cluster_id=self.cluster_id,
            owned=self.owned,
            engines=engines,
            unassigned=int(queues.get("unassigned", 0)),
        )

    def stop(self) -> None:
        """Stop the controller and engines started here (or disconnect); safe to call twice.

        Returns once every process started on this machine is gone: controller, engines and
        their nannies (which ipyparallel leaves for a few seconds): each gets SIGTERM, and
        SIGKILL after a second."""
        global _active
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if _active is self:
            _active = None
        self._client.close()
        if self._ipp_cluster is not None:
            _shutdown(self._ipp_cluster, self._reaper)

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


class _Reaper:
    """The watcher that stops the cluster's processes if this process dies first (see
    :mod:`workbench.parallel.reaper`); told each pid started, and ``done`` at a normal stop."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._told: set[int] = set()

    @classmethod
    def start(cls) -> _Reaper:
        command = [sys.executable, "-m", "workbench.parallel.reaper", str(os.getpid())]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": _engine_pythonpath()},
            start_new_session=True,  # a signal to this process group (a kernel restart) spares it
        )
        return cls(process)

    def _send(self, line: str) -> None:
        stdin: IO[bytes] | None = self.process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except BrokenPipeError:  # the watcher died: nothing more to tell it
            pass

    def watch(self, processes: list[psutil.Process]) -> None:
        for process in processes:
            if process.pid not in self._told:
                self._told.add(process.pid)
                self._send(f"pid {process.pid}")

    def done(self) -> None:
        self._send("done")
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _launcher(value: str | type, kind: str) -> str | type:
    """An ipyparallel launcher name, import path or class, refused with the installed names."""
    if not isinstance(value, str):
        return value
    names = sorted(entry.name.lower() for entry in entry_points(group=LAUNCHER_GROUPS[kind]))
    if value.lower() in names or "." in value:
        return value
    raise ClusterError(
        f"no ipyparallel {kind} launcher named {value!r}; installed: {', '.join(names)}",
        hint="pass one of those names, a launcher class, or the class's import path",
    )


def _config(config: Mapping[str, Any] | None) -> Any:
    """traitlets configuration for the launchers, with workbench's stop grace."""
    from traitlets.config import Config

    merged = Config({"LocalProcessLauncher": {"stop_seconds_until_kill": STOP_GRACE}})
    if config:
        if not all(isinstance(value, Mapping) for value in config.values()):
            raise ClusterError(
                "config maps launcher class names to their options",
                hint='e.g. config={"SSHEngineSetLauncher": {"engines": {"node1": 8}}}',
            )
        merged.merge(Config({name: dict(value) for name, value in config.items()}))
    return merged


def _warn_if_exposed(address: str) -> None:
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name or "*"
        loopback = address == "localhost"
    if not loopback:
        log.warning(
            "the controller listens on %s: whoever reaches it and holds the connection file's key can run code "
            "on the engines; keep it on a private network",
            address,
        )


def _local_processes(ipc: ipp.Cluster) -> list[psutil.Process]:
    """The processes ipyparallel's launchers started on this machine, when they have one."""
    launchers: list[Any] = [ipc.controller] if ipc.controller is not None else []
    for engine_set in ipc.engines.values():
        launchers += list(getattr(engine_set, "launchers", {}).values()) or [engine_set]
    processes = [getattr(launcher, "process", None) for launcher in launchers]
    return [process for process in processes if isinstance(process, psutil.Process)]


def _tree(processes: list[psutil.Process]) -> list[psutil.Process]:
    """``processes`` and their descendants, those still running."""
    found: dict[int, psutil.Process] = {}
    for process in processes:
        try:
            if process.is_running():
                found.setdefault(process.pid, process)
                for child in process.children(recursive=True):
                    found.setdefault(child.pid, child)
        except psutil.Error:
            continue
    return list(found.values())


def _shutdown(ipc: ipp.Cluster, reaper: _Reaper | None) -> None:
    """ipyparallel's stop, then every local process it started (and theirs) gone: the engines'
    nannies, which outlive their engine by seconds, are SIGKILLed."""
    launched = _local_processes(ipc)
    groups = group_leaders(launched)
    oldest = min((p.create_time() for p in launched), default=0.0)  # cached by psutil: known for the dead too
    started = _tree(launched)
    try:
        ipc.stop_cluster_sync()
    finally:
        stop_processes(started, STOP_GRACE, terminate=False)
        stop_processes(group_members(groups, oldest), STOP_GRACE, terminate=False)  # orphans of those stopped
        if reaper is not None:
            reaper.done()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


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
