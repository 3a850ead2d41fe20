"""The dashboard as an ASGI app: the page, its built assets, the JSON API and the live channel.

Routes (all GET, all behind :class:`~workbench.dashboard.auth.TokenGuard`):

- ``/``: the page; ``/static/NAME``: its built script and style sheet (a fixed list).
- ``/api/snapshot``: the current state (models, runs, schedules, freshness).
- ``/api/runs?offset=N&limit=M``: older runs, newest first (``offset`` at most 100,000, ``limit`` 500).
- ``/api/runs/RUN/output``: the run's executed notebook, as a download.
- ``/api/events``: server-sent events; an ``event: state`` with the whole state whenever
  its fingerprint changes (the event id is the fingerprint, so a reconnecting browser that
  already has it is sent nothing). A stream ends after ``stream_seconds`` and the browser
  reconnects, so a server shutting down never waits on an open page.

The app can be served alone (``workbench dashboard``) or mounted (``workbench serve``
mounts it at ``/dashboard``); the store poller starts with the first request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workbench.config import Settings
from workbench.dashboard.auth import TokenGuard
from workbench.dashboard.poller import SnapshotPoller
from workbench.dashboard.snapshot import MAX_RUNS_PAGE, RUNS_PAGE, Sources, runs_page
from workbench.errors import ConfigError, InvalidNameError, RunNotFoundError, WorkbenchError
from workbench.names import validate_name

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
HEARTBEAT_SECONDS = 10.0
MAX_RUNS_OFFSET = 100_000
"""The run store lists runs from the newest, so a page at ``offset`` reads ``offset + limit`` runs: bounded."""


def load_assets() -> dict[str, bytes]:
    """The built front end shipped in the package; raises :class:`ConfigError` when it was not built."""
    folder = files("workbench.dashboard") / "static"
    try:
        return {name: (folder / name).read_bytes() for name in ASSETS}
    except FileNotFoundError as exc:
        raise ConfigError(
            f"the dashboard's built front end is missing ({exc.filename})", hint="run `make dashboard`"
        ) from exc


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return int(text)


def create_dashboard_app(
    settings: Settings, token: str, *, poll_seconds: float = 1.0, stream_seconds: float = 15.0
) -> Starlette:
    """The dashboard of the stores ``settings`` names, every route guarded by ``token``."""
    assets = load_assets()
    poller = SnapshotPoller(settings, poll_seconds)
    requests = Sources(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(poller.stop)
            requests.close()

    def asset(name: str) -> Response:
        return Response(assets[name], media_type=ASSETS[name])

    async def index(request: Request) -> Response:
        return asset("index.html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS or name == "index.html":
            return JSONResponse({"error": "not found"}, status_code=404)
        return asset(name)

    async def snapshot(request: Request) -> Response:
        await run_in_threadpool(poller.start)
        return Response(poller.current()[2], media_type="application/json")

    async def runs(request: Request) -> Response:
        try:
            offset = _int_param(request, "offset", 0, 0, MAX_RUNS_OFFSET)
            limit = _int_param(request, "limit", RUNS_PAGE, 1, MAX_RUNS_PAGE)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        try:
            page: dict[str, Any] = await run_in_threadpool(runs_page, requests.runs, offset, limit)
        except WorkbenchError:
            requests.close()
            return JSONResponse({"error": "the run store could not answer; retry in a moment"}, status_code=503)
        return JSONResponse(page)

    async def output(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            validate_name(run_id, "run id")
            data = await run_in_threadpool(requests.runs.load_output, run_id)
        except (InvalidNameError, RunNotFoundError):
            return JSONResponse({"error": "no output notebook for this run"}, status_code=404)
        except WorkbenchError:
            requests.close()
            return JSONResponse({"error": "the run store could not answer; retry in a moment"}, status_code=503)
        return Response(
            data,
            media_type="application/x-ipynb+json",
            headers={"content-disposition": f'attachment; filename="{run_id}.ipynb"'},
        )

    async def events(request: Request) -> Response:
        await run_in_threadpool(poller.start)
        known = request.headers.get("last-event-id")

        async def stream() -> AsyncIterator[bytes]:
            nonlocal known
            loop = asyncio.get_running_loop()
            ends = loop.time() + stream_seconds
            quiet_since = loop.time()
            yield b"retry: 1000\n\n"
            while loop.time() < ends:
                _, fingerprint, body = poller.current()
                if fingerprint != known:
                    known = fingerprint
                    quiet_since = loop.time()
                    yield b"id: " + fingerprint.encode() + b"\nevent: state\ndata: " + body + b"\n\n"
                elif loop.time() - quiet_since > HEARTBEAT_SECONDS:
                    quiet_since = loop.time()
                    yield b": keep-alive\n\n"
                await asyncio.sleep(min(0.2, poll_seconds / 4))

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/snapshot", snapshot),
        Route("/api/runs", runs),
        Route("/api/runs/{run_id}/output", output),
        Route("/api/events", events),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(TokenGuard, token=token)])


__all__ = ["create_dashboard_app", "load_assets"]
