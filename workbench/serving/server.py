"""Run ``workbench serve``: build the app, bind the socket, print the banner, serve with uvicorn.

:class:`ServerApp` is the one app factory: one process calls it, and with ``--workers N``
uvicorn's supervisor sends it (pickled) to each worker, which calls it in a fresh
interpreter (so no model, thread or ONNX Runtime session is ever shared across a fork).
The parent binds the socket, prints the banner and runs the supervisor: it starts N
workers, restarts one that dies or stops answering its health check, and stops them all on
SIGINT or SIGTERM. Each worker keeps its own request counters (``/metrics`` shows the
worker that answered) and its own view of the prediction log; see docs/serving.md.

Apps beside the API come from the ``workbench.mounts`` entry-point group: each entry point
names a callable ``(settings, token) -> ASGI app``, mounted at ``/NAME`` with the server's
token. The dashboard is one (declared in workbench's own ``pyproject.toml``), so serving
never imports it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import uvicorn

from workbench.config import Settings, load_settings
from workbench.errors import ConfigError
from workbench.listening import address, announce, bind, resolve_token
from workbench.plugins import PluginRegistry
from workbench.serving.limits import ConnectionLimits
from workbench.serving.service import PredictionService, ServeConfig

MOUNTS: PluginRegistry[Callable[[Settings, str], Any]] = PluginRegistry(
    "workbench.mounts", "app mounted by workbench serve"
)


class _Server(uvicorn.Server):
    """uvicorn's server, running ``before_shutdown`` (in a thread) when it starts shutting down.

    On SIGTERM uvicorn shuts down, then raises the signal again, which ends the process:
    code after :meth:`run` never runs, so the Thrift server is stopped here, before the
    app's lifespan writes the buffered predictions.
    """

    def __init__(self, config: uvicorn.Config, before_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self.before_shutdown = before_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.to_thread(self.before_shutdown)
        await super().shutdown(sockets)


@dataclass(frozen=True)
class ServerApp:
    """Builds the whole app of ``workbench serve``: the models, the API, the mounted apps.

    Picklable, as uvicorn's supervisor sends it to each new worker process.
    """

    models: tuple[str, ...] | None
    config: ServeConfig

    def build(self) -> tuple[Any, PredictionService]:
        """The app and the service behind it (which another front end, Thrift, may share)."""
        from workbench.registry.api import default_registry
        from workbench.serving.app import create_app
        from workbench.serving.factory import ModelFactory

        factory = ModelFactory(default_registry(), self.models)
        factory.load()
        service = PredictionService(factory, self.config)
        app = create_app(factory, self.config, service)
        settings = load_settings()
        for name in MOUNTS:
            app.mount(f"/{name}", MOUNTS.get(name)(settings, self.config.token))
        return app, service

    def __call__(self) -> Any:
        """The app of one worker process (uvicorn's ``factory=True``)."""
        from workbench.serving.factory import freeze_heap

        app, _ = self.build()
        freeze_heap()
        return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    models: Sequence[str] | None = None,
    token: str | None = None,
    max_body: int = 1_048_576,
    max_rows: int = 1_000,
    reload_seconds: float = 2.0,
    thrift_port: int | None = None,
    workers: int = 1,
    limits: ConnectionLimits | None = None,
    replica_name: str | None = None,
) -> None:
    """Serve the production version of ``models`` (default: every model that has one) until interrupted.

    With ``thrift_port``, the Thrift ``Predictor`` service is served there too, on the same
    models. ``workers`` above 1 runs that many server processes on the one socket.
    ``limits`` bound every connection (default: ``[tool.workbench.serving]``, else the defaults).
    ``replica_name`` names this server on the dashboard among the replicas sharing the store
    (default ``host:pid``; each of ``workers`` is ``NAME:pid``).
    """
    if max_body < 1 or max_rows < 1:
        raise ConfigError("--max-body and --max-rows must be positive")
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    if workers > 1 and thrift_port is not None:
        raise ConfigError("--thrift-port needs --workers 1", hint="run the Thrift server as its own process")
    secret, generated = resolve_token(token)
    limits = limits or ConnectionLimits.resolve(load_settings())
    if replica_name is not None:
        from workbench.storage.replica_records import check_replica

        check_replica(replica_name)
    config = ServeConfig(secret, max_body, max_rows, reload_seconds, limits, replica_name, workers)
    server_app = ServerApp(tuple(models) if models else None, config)
    token_line = [f"write token (shown once): {secret}"] if generated else []
    if workers > 1:
        _serve_workers(host, port, workers, server_app, token_line)
    else:
        _serve_one(host, port, thrift_port, server_app, token_line)


def _settings(app: Any, limits: ConnectionLimits, **extra: Any) -> uvicorn.Config:
    """uvicorn on httptools, with the limits it lacks (:mod:`workbench.serving.protocol`)."""
    from workbench.serving.protocol import GuardedHttpToolsProtocol

    return uvicorn.Config(
        app,
        http=partial(GuardedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
        ws="none",
        proxy_headers=False,  # X-Forwarded-* are not trusted (nor needed: no route reads the client address)
        log_level="warning",
        access_log=False,
        lifespan="on",
        **extra,
    )


def _serve_one(host: str, port: int, thrift_port: int | None, server_app: ServerApp, token_line: list[str]) -> None:
    from workbench.serving.factory import freeze_heap
    from workbench.serving.thrift_server import ThriftServer

    app, service = server_app.build()
    thrift: ThriftServer | None = None
    sock = bind(host, port)
    try:
        lines = []
        if thrift_port is not None:
            limits = server_app.config.limits
            thrift = ThriftServer(
                service,
                bind(host, thrift_port),
                timeout=limits.thrift_timeout,
                idle_timeout=limits.thrift_idle_timeout,
                max_connections=limits.thrift_max_connections,
                max_connections_per_client=limits.thrift_max_connections_per_client,
            )
            thrift.start()
            lines.append(f"thrift on {'[' + host + ']' if ':' in host else host}:{thrift.port}")
        served = ", ".join(f"{s.version.name} v{s.version.version}" for s in service.factory.served()) or "none yet"
        announce("serve", address(host, sock), host, details=f"models: {served}", lines=lines + token_line)
        settings = _settings(app, server_app.config.limits)
        server = _Server(settings, thrift.stop) if thrift is not None else uvicorn.Server(settings)
        freeze_heap()
        server.run(sockets=[sock])
    finally:
        if thrift is not None:
            thrift.stop()
        service.close()  # writes the predictions still buffered for the prediction log
        sock.close()


def _serve_workers(host: str, port: int, workers: int, server_app: ServerApp, token_line: list[str]) -> None:
    """Serve with ``workers`` processes on one socket until SIGINT or SIGTERM.

    The named models are checked (each must have a production version) before any worker
    starts, so a typo fails at once instead of in every worker.
    """
    from uvicorn.supervisors import Multiprocess

    from workbench.registry.api import default_registry

    registry = default_registry()
    names = list(server_app.models) if server_app.models else registry.store.list_names()
    served = []
    for name in names:
        production = [v for v in registry.store.list_versions(name) if v.stage == "production"]
        if server_app.models and not production:
            registry.store.find(name, stage="production")  # raises the registry's own error, naming the model
        if production:
            served.append(f"{name} v{production[-1].version}")
    sock = bind(host, port)
    try:
        details = f"models: {', '.join(served) or 'none yet'}; {workers} workers"
        announce("serve", address(host, sock), host, details=details, lines=token_line)
        settings = _settings(server_app, server_app.config.limits, factory=True, workers=workers)
        Multiprocess(settings, sockets=[sock]).run()
    finally:
        sock.close()


__all__ = ["MOUNTS", "ServerApp", "serve"]
