"""workbench in JupyterLab: a Jupyter Server extension (REST handlers, the dashboard page) and
the prebuilt Lab extension it ships (``labextension/``, installed as
``share/jupyter/labextensions/workbench``).

Installing the package enables the server extension
(``etc/jupyter/jupyter_server_config.d/workbench.json``); nothing is built or enabled by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workbench.jupyter"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "workbench"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from workbench.jupyter.dashboard import dashboard_routes
    from workbench.jupyter.handlers import Context, routes

    root = Path(serverapp.root_dir)
    context = Context(root)
    web_app = serverapp.web_app
    base = web_app.settings["base_url"]
    web_app.settings["workbench_context"] = context
    web_app.add_handlers(".*$", [*routes(base), *dashboard_routes(base, context)])
    serverapp.log.info("workbench: REST API at %sworkbench/api/, dashboard at %sworkbench/dashboard/", base, base)


def _unload_jupyter_server_extension(serverapp: Any) -> None:
    """The Lab server stops: the ready runner ends (runs already started go on)."""
    context = serverapp.web_app.settings.get("workbench_context")
    if context is not None:
        context.launcher.close()
        context.sources.close()
