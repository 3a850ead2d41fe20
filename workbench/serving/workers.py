"""``workbench serve --workers N``: N server processes answering on one socket bound here.

The parent binds the socket, prints the address, and runs uvicorn's process supervisor:
it starts N workers (fresh interpreters, so no model, thread or ONNX Runtime session is
ever shared across a fork), restarts a worker that dies or stops answering its health
check, and stops them all on SIGINT or SIGTERM. Each worker loads the models through the
registry's verified load path and polls the store for promotions on its own; the kernel
spreads connections over the workers.

Each worker keeps its own request counters (``/metrics`` shows the worker that answered)
and its own view of the prediction log; see docs/serving.md for what that means for
feedback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError
from workbench.serving.service import ServeConfig


@dataclass(frozen=True)
class WorkerApp:
    """Builds the app inside one worker; picklable, as the supervisor sends it to each new process."""

    models: tuple[str, ...] | None
    config: ServeConfig

    def __call__(self) -> Any:
        from workbench.config import load_settings
        from workbench.dashboard.app import create_dashboard_app
        from workbench.registry.api import default_registry
        from workbench.serving.app import create_app
        from workbench.serving.factory import ModelFactory, freeze_heap

        factory = ModelFactory(default_registry(), self.models)
        factory.load()
        app = create_app(factory, self.config)
        app.mount("/dashboard", create_dashboard_app(load_settings(), self.config.token))  # as in server.serve
        freeze_heap()
        return app


def serve_workers(
    host: str, port: int, workers: int, models: Sequence[str] | None, config: ServeConfig, generated_token: bool
) -> None:
    """Serve with ``workers`` processes on one socket until SIGINT or SIGTERM.

    The named models are checked (each must have a production version) before any worker
    starts, so a typo fails at once instead of in every worker.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from workbench.registry.api import default_registry
    from workbench.serving.server import LOOPBACK, bind

    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    registry = default_registry()
    names = list(models) if models else registry.store.list_names()
    served = []
    for name in names:
        production = [v for v in registry.store.list_versions(name) if v.stage == "production"]
        if models and not production:
            registry.store.find(name, stage="production")  # raises the registry's own error, naming the model
        if production:
            served.append(f"{name} v{production[-1].version}")
    sock = bind(host, port)
    try:
        shown = f"[{host}]" if ":" in host else host
        print(
            f"workbench serve: listening on http://{shown}:{sock.getsockname()[1]} "
            f"(models: {', '.join(served) or 'none yet'}; {workers} workers)",
            flush=True,
        )
        if host not in LOOPBACK:
            print(f"workbench serve: warning: listening on {host}, reachable from other machines", file=sys.stderr)
        if generated_token:
            print(f"workbench serve: write token (shown once): {config.token}", flush=True)
        app = WorkerApp(tuple(models) if models else None, config)
        settings = uvicorn.Config(
            app, factory=True, workers=workers, log_level="warning", access_log=False, lifespan="on"
        )
        Multiprocess(settings, sockets=[sock]).run()
    finally:
        sock.close()


__all__ = ["WorkerApp", "serve_workers"]
