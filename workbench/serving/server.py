"""Run the HTTP server: load the models, bind the socket, print where it listens, serve with uvicorn.

The socket is bound here (not by uvicorn) so ``--port 0`` picks a free port and the
printed address is the real one. The token for write routes comes from the caller,
else ``WORKBENCH_TOKEN``, else is generated and printed once; it never appears in a URL
or a log line.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Sequence

from workbench.errors import ConfigError
from workbench.registry.api import default_registry
from workbench.serving.app import create_app
from workbench.serving.factory import ModelFactory
from workbench.serving.service import ServeConfig

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


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
) -> None:
    """Serve the production version of ``models`` (default: every model that has one) until interrupted."""
    import uvicorn

    if max_body < 1 or max_rows < 1:
        raise ConfigError("--max-body and --max-rows must be positive")
    factory = ModelFactory(default_registry(), models)
    factory.load()
    secret, generated = resolve_token(token)
    config = ServeConfig(token=secret, max_body=max_body, max_rows=max_rows, reload_seconds=reload_seconds)
    app = create_app(factory, config)
    sock = bind(host, port)
    try:
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        served = ", ".join(f"{s.version.name} v{s.version.version}" for s in factory.served()) or "none yet"
        print(f"workbench serve: listening on http://{shown}:{bound} (models: {served})", flush=True)
        if host not in LOOPBACK:
            print(f"workbench serve: warning: listening on {host}, reachable from other machines", file=sys.stderr)
        if generated:
            print(f"workbench serve: write token (shown once): {secret}", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        server.run(sockets=[sock])
    finally:
        sock.close()


__all__ = ["bind", "resolve_token", "serve"]
