"""Run the HTTP server: load the models, bind the socket, print where it listens, serve with uvicorn.

The socket is bound here (not by uvicorn) so ``--port 0`` picks a free port and the
printed address is the real one. The token for write routes comes from the caller,
else ``WORKBENCH_TOKEN``, else is generated and printed once; it never appears in a URL
or a log line.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
from collections.abc import Callable, Sequence

import uvicorn

from workbench.config import load_settings
from workbench.dashboard.app import create_dashboard_app
from workbench.errors import ConfigError
from workbench.registry.api import default_registry
from workbench.serving.app import create_app
from workbench.serving.factory import ModelFactory, freeze_heap
from workbench.serving.service import PredictionService, ServeConfig
from workbench.serving.thrift_server import ThriftServer

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


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


def resolve_token(given: str | None) -> tuple[str, bool]:
    """The write token and whether it was generated here (and so must be shown to the user)."""
    token = given or os.environ.get("WORKBENCH_TOKEN", "")
    if token:
        return token, False
    return secrets.token_urlsafe(32), True


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; raises :class:`ConfigError` when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: uvicorn writes headers and body apart, and Nagle's
        # algorithm would hold the body back for a delayed ACK (about 40 ms per response)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port") from exc
    return sock


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
) -> None:
    """Serve the production version of ``models`` (default: every model that has one) until interrupted.

    With ``thrift_port``, the Thrift ``Predictor`` service is served there too, on the same models.
    ``workers`` above 1 runs that many server processes on the one socket
    (:mod:`workbench.serving.workers`).
    """
    if max_body < 1 or max_rows < 1:
        raise ConfigError("--max-body and --max-rows must be positive")
    if workers != 1:
        if thrift_port is not None:
            raise ConfigError("--thrift-port needs --workers 1", hint="run the Thrift server as its own process")
        from workbench.serving.workers import serve_workers

        secret, generated = resolve_token(token)
        config = ServeConfig(token=secret, max_body=max_body, max_rows=max_rows, reload_seconds=reload_seconds)
        serve_workers(host, port, workers, models, config, generated)
        return
    factory = ModelFactory(default_registry(), models)
    factory.load()
    secret, generated = resolve_token(token)
    config = ServeConfig(token=secret, max_body=max_body, max_rows=max_rows, reload_seconds=reload_seconds)
    service = PredictionService(factory, config)
    app = create_app(factory, config, service)
    app.mount("/dashboard", create_dashboard_app(load_settings(), secret))  # the live dashboard, same token
    sock = bind(host, port)
    thrift: ThriftServer | None = None
    try:
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        served = ", ".join(f"{s.version.name} v{s.version.version}" for s in factory.served()) or "none yet"
        print(f"workbench serve: listening on http://{shown}:{bound} (models: {served})", flush=True)
        if thrift_port is not None:
            thrift = ThriftServer(service, bind(host, thrift_port))
            thrift.start()
            print(f"workbench serve: thrift on {shown}:{thrift.port}", flush=True)
        if host not in LOOPBACK:
            print(f"workbench serve: warning: listening on {host}, reachable from other machines", file=sys.stderr)
        if generated:
            print(f"workbench serve: write token (shown once): {secret}", flush=True)
        settings = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        server = _Server(settings, thrift.stop) if thrift is not None else uvicorn.Server(settings)
        freeze_heap()
        server.run(sockets=[sock])
    finally:
        if thrift is not None:
            thrift.stop()
        service.close()  # writes the predictions still buffered for the prediction log
        sock.close()


__all__ = ["bind", "resolve_token", "serve"]
