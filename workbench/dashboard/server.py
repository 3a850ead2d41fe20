"""Run the dashboard alone: bind the socket, print where it listens, serve with uvicorn.

The socket, the banner and the token work as for ``workbench serve`` (:mod:`workbench.listening`):
``--port 0`` picks a free port and the printed address is the real one; a generated token
is printed once, inside the address to open.
"""

from __future__ import annotations

from workbench.config import load_settings
from workbench.errors import ConfigError, MissingDependencyError


def run_dashboard(host: str = "127.0.0.1", port: int = 8050, *, token: str | None = None, poll: float = 1.0) -> None:
    """Serve the dashboard of the current settings' stores until interrupted."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("the dashboard needs uvicorn", hint="pip install 'workbench[serve]'") from exc
    from workbench.dashboard.app import create_dashboard_app
    from workbench.listening import address, announce, bind, resolve_token

    if not 0.05 <= poll <= 60:
        raise ConfigError("--poll must be between 0.05 and 60 seconds")
    secret, generated = resolve_token(token)
    app = create_dashboard_app(load_settings(), secret, poll_seconds=poll)
    sock = bind(host, port)
    try:
        url = address(host, sock) + "/"
        announce("dashboard", url, host, lines=[f"open {url}?token={secret} (token shown once)"] if generated else [])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


__all__ = ["run_dashboard"]
