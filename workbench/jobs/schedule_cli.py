"""``workbench schedule add | list | remove | run-now | export`` and ``workbench scheduler``."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ScheduleError

if TYPE_CHECKING:
    from workbench.storage.schedule_records import Schedule


def add_schedule(
    name: str,
    notebook: str,
    cron: str,
    parameters: dict[str, Any],
    *,
    allow_new_params: bool = False,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    kernel: str | None = None,
) -> Schedule:
    """Check the parameters as ``workbench run`` does (no kernel yet), then save the schedule."""
    from workbench.jobs.params import validate_parameters
    from workbench.jobs.runner import prepare
    from workbench.storage import open_storage
    from workbench.storage.schedule_records import Schedule

    values = validate_parameters(parameters)
    prepare(notebook, values, allow_new_params=allow_new_params)  # refuse bad ones now
    schedule = Schedule(
        name=name,
        notebook=str(Path(notebook).resolve()),
        cron=cron,
        parameters=values,
        timeout=timeout,
        cell_timeout=cell_timeout,
        kernel=kernel,
    )
    with open_storage() as storage:
        storage.runs.save_schedule(schedule)
    return schedule


def _add(args: argparse.Namespace, parameters: Callable[[argparse.Namespace], dict[str, Any]]) -> int:
    schedule = add_schedule(
        args.name,
        args.notebook,
        args.cron,
        parameters(args),
        allow_new_params=args.allow_new_params,
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        kernel=args.kernel,
    )
    next_due = schedule.next_due(datetime.now(UTC))
    print(f"schedule {schedule.name}: {schedule.cron}, next run {next_due:%Y-%m-%d %H:%M} UTC")
    return 0


def _list(args: argparse.Namespace) -> int:
    from workbench.formatting import text_table
    from workbench.storage import open_storage

    with open_storage() as storage:
        schedules = storage.runs.list_schedules()
    now = datetime.now(UTC)
    rows = [
        (s.name, s.cron, s.notebook, f"{s.next_due(now):%Y-%m-%d %H:%M}", s.last_run_id or "-")
        for s in schedules
    ]
    print(text_table(["schedule", "cron", "notebook", "next (UTC)", "last run"], rows))
    return 0


def _remove(args: argparse.Namespace) -> int:
    from workbench.storage import open_storage

    with open_storage() as storage:
        if not storage.runs.remove_schedule(args.name):
            raise ScheduleError(f"no schedule named {args.name!r}", hint="list them with: workbench schedule list")
    return 0


def _run_now(args: argparse.Namespace) -> int:
    from workbench.jobs.scheduler import run_schedule
    from workbench.storage import open_storage

    with open_storage() as storage:
        store = storage.runs
        schedule = store.get_schedule(args.name)
        if schedule is None:
            raise ScheduleError(f"no schedule named {args.name!r}", hint="list them with: workbench schedule list")
        result = run_schedule(schedule, store)
        schedule.last_run_id = result.run_id
        store.save_schedule(schedule)
    print(result)
    return 0 if result.status == "succeeded" else 1


def parameter_arguments(parameters: dict[str, Any]) -> list[str]:
    """``-p``/``-r`` options of ``workbench run`` that give back exactly these parameter values."""
    import yaml

    arguments = []
    for name, value in parameters.items():
        if isinstance(value, str):
            arguments += ["-r", name, value]
        else:
            arguments += ["-p", name, yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")]
    return arguments


def crontab_lines(schedules: list[Any]) -> list[str]:
    """Lines for system cron running each schedule with ``workbench run`` (``%`` escaped)."""
    lines = []
    for s in schedules:
        command = ["workbench", "run", s.notebook, "--name", s.name, *parameter_arguments(s.parameters)]
        for flag, value in (("--timeout", s.timeout), ("--cell-timeout", s.cell_timeout), ("--kernel", s.kernel)):
            if value is not None:
                command += [flag, str(value)]
        text = " ".join(shlex.quote(part) for part in command).replace("%", "\\%")
        lines.append(f"{s.cron} {text}")
    return lines


def _export(args: argparse.Namespace) -> int:
    from workbench.storage import open_storage

    with open_storage() as storage:
        schedules = storage.runs.list_schedules()
    for line in crontab_lines(schedules):
        print(line)
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    import logging

    from workbench.jobs.scheduler import Scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    scheduler = Scheduler()
    try:
        scheduler.serve()
    except KeyboardInterrupt:
        scheduler.stop()
    return 0


def add_schedule_commands(
    subparsers: Any,
    add_run_options: Callable[[argparse.ArgumentParser], None],
    parameters: Callable[[argparse.Namespace], dict[str, Any]],
) -> None:
    schedule = subparsers.add_parser("schedule", help="run notebooks on a cron schedule")
    actions = schedule.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add or replace a schedule")
    add.add_argument("name")
    add.add_argument("notebook")
    add.add_argument("--cron", required=True, help='five cron fields, UTC, e.g. "*/5 * * * *"')
    add.add_argument("--allow-new-params", action="store_true")
    add_run_options(add)
    add.set_defaults(func=lambda a: _add(a, parameters))
    actions.add_parser("list", help="schedules and their next run").set_defaults(func=_list)
    remove = actions.add_parser("remove", help="remove a schedule")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)
    run_now = actions.add_parser("run-now", help="run a schedule's job now")
    run_now.add_argument("name")
    run_now.set_defaults(func=_run_now)
    export = actions.add_parser("export", help="print the schedules as system crontab lines")
    export.add_argument("--crontab", action="store_true", required=True)
    export.set_defaults(func=_export)
    subparsers.add_parser(
        "scheduler", help="run due scheduled jobs until interrupted (one scheduler per store)"
    ).set_defaults(func=_scheduler)


__all__ = ["add_schedule", "add_schedule_commands", "crontab_lines", "parameter_arguments"]
