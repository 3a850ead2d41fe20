"""REST handlers of the workbench Jupyter Server extension, under ``/workbench/api/``.

Every handler is a Jupyter ``APIHandler`` behind ``@tornado.web.authenticated``: the Lab's
own login and XSRF protection, no token of workbench's. Store calls run in a thread so the
server's event loop never waits on a store, a kernel or the gates.

- ``GET  state?since=FP``: runs, schedules, models; with ``since``, waits (up to
  ``LONG_POLL_S``) until the state's fingerprint differs from ``FP``.
- ``GET  runs/ID``; ``POST runs`` ``{path, parameters, name?}`` starts a run, ``{path,
  parameters, name?, cron}`` adds a schedule; ``POST runs/ID/rerun``, ``runs/ID/cancel``,
  ``runs/ID/open`` (copies its output notebook into the Lab's folder).
- ``GET  parameters?path=NB``: the notebook's parameters.
- ``GET  schedules/preview?cron=EXPR``: the next three due times.
- ``POST schedules/NAME/pause``, ``schedules/NAME/resume``; ``DELETE schedules/NAME``.
- ``POST models/NAME/VERSION/promote`` ``{stage, weight?}``: the promotion's record (with the
  gate report when refused); ``POST models/NAME/rollback``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler

from workbench.config import load_settings
from workbench.dashboard.snapshot import Sources
from workbench.errors import (
    BadParametersError,
    ModelNotFoundError,
    RunNotFoundError,
    StorageUnavailableError,
    WorkbenchError,
)
from workbench.jupyter import launch, service

T = TypeVar("T")
LONG_POLL_S = 20.0
STATE_REFRESH_S = 0.3
"""How old a cached state may be before a waiting request reads the stores again."""


class Context:
    """What the handlers share: the Lab's root folder and the stores (opened on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sources = Sources(load_settings(cwd=root))
        self.launcher = launch.Launcher(self.sources.runs, root)
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None
        self._read_at = 0.0

    def state(self) -> dict[str, Any]:
        """The current state, read at most every ``STATE_REFRESH_S`` however many requests wait.

        A Lab reading the state has a user: a runner is kept ready for their next run."""
        self.launcher.warm()
        with self._lock:
            if self._state is None or time.monotonic() - self._read_at >= STATE_REFRESH_S:
                try:
                    self._state = service.state(self.sources, self.root)
                except WorkbenchError:
                    self.sources.close()  # the next read opens the stores again
                    raise
                self._read_at = time.monotonic()
            return self._state

    def changed(self) -> None:
        """Forget the cached state (after a write), so the next read sees it."""
        with self._lock:
            self._state = None


class WorkbenchHandler(APIHandler):
    """JSON in and out; a :class:`WorkbenchError` becomes ``{"error", "hint"}`` with a fitting status."""

    closed = False

    def on_connection_close(self) -> None:
        self.closed = True

    @property
    def context(self) -> Context:
        context: Context = self.settings["workbench_context"]
        return context

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(function, *args))

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as exc:
            raise tornado.web.HTTPError(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, "the body must be a JSON object")
        return data

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, default=str))

    def fail(self, exc: WorkbenchError) -> None:
        status = 400
        if isinstance(exc, RunNotFoundError | ModelNotFoundError):
            status = 404
        elif isinstance(exc, StorageUnavailableError):
            status = 503
        elif isinstance(exc, BadParametersError):
            status = 422
        self.reply({"error": exc.message, "hint": exc.hint}, status)

    async def guarded(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            result = await self.call(function, *args)
        except WorkbenchError as exc:
            self.fail(exc)
            return
        self.reply(result)


class StateHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        since = self.get_query_argument("since", None)
        ends = time.monotonic() + LONG_POLL_S
        try:
            current = await self.call(self.context.state)
            while since is not None and current["fingerprint"] == since and time.monotonic() < ends:
                await asyncio.sleep(STATE_REFRESH_S)
                if self.closed:
                    return
                current = await self.call(self.context.state)
        except WorkbenchError as exc:
            self.fail(exc)
            return
        self.reply(current)


class ParametersHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path")

        def read() -> dict[str, Any]:
            notebook = service.notebook_path(self.context.root, path)
            return {"path": path, "name": notebook.stem, "parameters": service.parameters_of(notebook)}

        await self.guarded(read)


class RunsHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body()
        context = self.context

        def start() -> dict[str, Any]:
            notebook = service.notebook_path(context.root, str(body.get("path", "")))
            values = body.get("parameters") or {}
            if not isinstance(values, dict):
                raise BadParametersError("parameters must be a JSON object of names to values")
            parameters = service.parse_form(values)
            name = body.get("name") or None
            cron = body.get("cron")
            if cron:
                from workbench.jobs.schedule_cli import add_schedule

                schedule = add_schedule(name or notebook.stem, str(notebook), str(cron), parameters)
                context.changed()
                return {"schedule": schedule.name, "next": service.next_times(schedule.cron)}
            run_id = context.launcher.start(notebook, parameters, name=name)
            context.changed()
            return {"run_id": run_id}

        await self.guarded(start)


class RunHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        context = self.context
        await self.guarded(lambda: service.run_record(context.sources.runs.require_run(run_id), context.root))

    @tornado.web.authenticated
    async def post(self, run_id: str, action: str) -> None:
        context = self.context
        store = context.sources.runs

        def act() -> dict[str, Any]:
            if action == "cancel":
                result = service.run_record(launch.cancel_run(store, run_id), context.root)
            elif action == "rerun":
                run = store.require_run(run_id)
                new = context.launcher.start(Path(run.notebook), run.parameters, name=run.job)
                result = {"run_id": new}
            else:
                result = {"path": service.copy_output(store, run_id, context.root)}
            context.changed()
            return result

        await self.guarded(act)


class PreviewHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        cron = self.get_query_argument("cron")
        await self.guarded(lambda: {"cron": cron, "next": service.next_times(cron)})


class ScheduleHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        context = self.context

        def act() -> dict[str, Any]:
            schedule = service.set_paused(context.sources.runs, name, action == "pause")
            context.changed()
            return {"name": schedule.name, "paused": schedule.paused}

        await self.guarded(act)

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        context = self.context

        def remove() -> dict[str, Any]:
            from workbench.errors import ScheduleError

            if not context.sources.runs.remove_schedule(name):
                raise ScheduleError(f"no schedule named {name!r}", hint="list them with: workbench schedule list")
            context.changed()
            return {"removed": name}

        await self.guarded(remove)


class PromoteHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def post(self, name: str, version: str) -> None:
        body = self.body()
        context = self.context

        def promote() -> dict[str, Any]:
            from workbench.lifecycle.promotion import promote
            from workbench.registry.api import Registry

            result = promote(
                name,
                int(version),
                str(body.get("stage", "")),
                weight=body.get("weight"),  # checked by promote, as `workbench promote --weight` is
                registry=Registry(context.sources.registry),
                raise_on_refusal=False,
            )
            context.changed()
            record = result.to_record()
            record["text"] = str(result)
            return record

        await self.guarded(promote)


class RollbackHandler(WorkbenchHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        context = self.context

        def rollback() -> dict[str, Any]:
            from workbench.registry.api import Registry

            version = Registry(context.sources.registry).rollback(name)
            context.changed()
            return {"name": version.name, "version": version.version, "stage": version.stage,
                    "summary": f"{version.name} v{version.version} is back in production"}

        await self.guarded(rollback)


NAME = r"([A-Za-z0-9][A-Za-z0-9._-]*)"


def routes(base: str) -> list[tuple[str, type[WorkbenchHandler]]]:
    api = base.rstrip("/") + "/workbench/api/"
    return [
        (api + "state", StateHandler),
        (api + "parameters", ParametersHandler),
        (api + "runs", RunsHandler),
        (api + f"runs/{NAME}", RunHandler),
        (api + f"runs/{NAME}/(cancel|rerun|open)", RunHandler),
        (api + "schedules/preview", PreviewHandler),
        (api + f"schedules/{NAME}/(pause|resume)", ScheduleHandler),
        (api + f"schedules/{NAME}", ScheduleHandler),
        (api + f"models/{NAME}/([0-9]+)/promote", PromoteHandler),
        (api + f"models/{NAME}/rollback", RollbackHandler),
    ]


__all__ = ["Context", "routes"]
