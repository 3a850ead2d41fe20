"""The dashboard page served by the Jupyter server at ``/workbench/dashboard/``, behind the Lab's login.

The same built page and the same JSON as ``workbench dashboard`` (its poller, snapshot and
run pages); only the guard differs: Jupyter's authentication instead of the dashboard's token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import tornado.web
from jupyter_server.base.handlers import JupyterHandler

from workbench.dashboard.app import ASSETS, MAX_RUNS_OFFSET, load_assets
from workbench.dashboard.poller import SnapshotPoller
from workbench.dashboard.snapshot import MAX_RUNS_PAGE, RUNS_PAGE, runs_page
from workbench.errors import InvalidNameError, RunNotFoundError, WorkbenchError
from workbench.jupyter.handlers import NAME, Context
from workbench.names import validate_name

STREAM_SECONDS = 15.0


class DashboardHandler(JupyterHandler):
    closed = False

    def on_connection_close(self) -> None:
        self.closed = True

    def initialize(self, poller: SnapshotPoller, assets: dict[str, bytes], context: Context) -> None:
        self.poller = poller
        self.assets = assets
        self.sources = context.sources

    async def thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)


class PageHandler(DashboardHandler):
    @tornado.web.authenticated
    def get(self, name: str = "index.html") -> None:
        if name not in ASSETS:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", ASSETS[name])
        self.finish(self.assets[name])


class SnapshotHandler(DashboardHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.thread(self.poller.start)
        self.set_header("Content-Type", "application/json")
        self.finish(self.poller.current()[2])


class RunsPageHandler(DashboardHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            offset = int(self.get_query_argument("offset", "0"))
            limit = int(self.get_query_argument("limit", str(RUNS_PAGE)))
        except ValueError:
            raise tornado.web.HTTPError(422, "offset and limit must be integers") from None
        if not (0 <= offset <= MAX_RUNS_OFFSET and 1 <= limit <= MAX_RUNS_PAGE):
            raise tornado.web.HTTPError(422, "offset or limit out of range")
        try:
            page = await self.thread(runs_page, self.sources.runs, offset, limit)
        except WorkbenchError:
            raise tornado.web.HTTPError(503, "the run store could not answer; retry in a moment") from None
        self.finish(page)


class OutputHandler(DashboardHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        try:
            validate_name(run_id, "run id")
            data = await self.thread(self.sources.runs.load_output, run_id)
        except (InvalidNameError, RunNotFoundError):
            raise tornado.web.HTTPError(404, "no output notebook for this run") from None
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.set_header("Content-Disposition", f'attachment; filename="{run_id}.ipynb"')
        self.finish(data)


class EventsHandler(DashboardHandler):
    """Server-sent events as ``workbench dashboard`` sends them: the state whenever it changes."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.thread(self.poller.start)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        known = self.request.headers.get("Last-Event-ID")
        ends = time.monotonic() + STREAM_SECONDS
        self.write(b"retry: 1000\n\n")
        await self.flush()
        while time.monotonic() < ends and not self.closed:
            _, fingerprint, body = self.poller.current()
            if fingerprint != known:
                known = fingerprint
                self.write(b"id: " + fingerprint.encode() + b"\nevent: state\ndata: " + body + b"\n\n")
                await self.flush()
            await asyncio.sleep(0.25)
        self.finish()


def dashboard_routes(base: str, context: Context) -> list[tuple[str, type[DashboardHandler], dict[str, Any]]]:
    """The page's routes, sharing one poller (started by the first request) and the built assets."""
    page = base.rstrip("/") + "/workbench/dashboard/"
    shared = {"poller": SnapshotPoller(context.sources.settings), "assets": load_assets(), "context": context}
    return [
        (page, PageHandler, shared),
        (page + "static/([a-z.]+)", PageHandler, shared),
        (page + "api/snapshot", SnapshotHandler, shared),
        (page + "api/runs", RunsPageHandler, shared),
        (page + f"api/runs/{NAME}/output", OutputHandler, shared),
        (page + "api/events", EventsHandler, shared),
    ]


__all__ = ["dashboard_routes"]
