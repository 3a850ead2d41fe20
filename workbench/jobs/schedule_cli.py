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
    executor: str | None = None,
) -> Schedule:
    """Check the parameters as ``workbench run`` does (no kernel yet), then save the schedule.
    ``executor``: the ipyparallel cluster (profile or connection file) whose engines run it."""
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
        executor=executor,
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
        executor=args.on,
    )
    next_due = schedule.next_due(datetime.now(UTC))
    print(f"schedule {schedule.name}: {schedule.cron}, next run {next_due:%Y-%m-%d %H:%M} UTC")
    return 0


def _last_run(store: Any, schedule: Any) -> str:
    """The newest run the schedule started (or ran with run-now), with its status."""
    runs = [r for r in store.list_runs(schedule.name, limit=20) if r.schedule == schedule.name]
    if runs:
        last = runs[0]
        return f"{last.run_id} {last.status}" + (f" ({last.reason})" if last.reason else "")
    return schedule.last_run_id or "-"


def _list(args: argparse.Namespace) -> int:
    from workbench.formatting import text_table
    from workbench.storage import open_storage

    now = datetime.now(UTC)
    with open_storage() as storage:
        rows = [
            (s.name, s.cron, s.notebook, f"{s.next_due(now):%Y-%m-%d %H:%M}", _last_run(storage.runs, s))
            for s in storage.runs.list_schedules()
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
    from workbench.jobs.cancel import Cancellation, cancel_on_signals
    from workbench.jobs.scheduler import run_schedule
    from workbench.storage import open_storage

    with open_storage() as storage, cancel_on_signals(Cancellation()) as cancel:
        store = storage.runs
        schedule = store.get_schedule(args.name)
        if schedule is None:
            raise ScheduleError(f"no schedule named {args.name!r}", hint="list them with: workbench schedule list")
        result = run_schedule(schedule, store, cancel=cancel)
        schedule.last_run_id = result.run_id
        store.save_schedule(schedule)
    if result.status == "cancelled":
        print(f"workbench: run {result.run_id} of {result.job} was cancelled ({result.reason})", file=sys.stderr)
        return cancel.exit_code
    print(result)
    return 0 if result.status == "succeeded" else 1


def _flags(name: str, value: Any) -> list[str]:
    """Flags of ``workbench run`` that give ``name`` exactly ``value`` back."""
    import json

    if isinstance(value, str):
        return ["-r", name, value]
    if value is None or isinstance(value, bool | int | float):
        return ["-p", name, repr(value)]  # papermill's -p reads these reprs back exactly
    from workbench.jobs.params import parse_yaml_mapping

    text = json.dumps({name: value})  # JSON is YAML: lists and maps
    if parse_yaml_mapping(text) != {name: value}:
        raise ScheduleError(
            f"parameter {name} = {value!r} cannot be written as a crontab flag that reads back exactly",
            hint="run the schedule with workbench scheduler instead",
        )
    return ["-y", text]


def parameter_arguments(parameters: dict[str, Any]) -> list[str]:
    """Options of ``workbench run`` that give back exactly these parameter values."""
    return [flag for name, value in parameters.items() for flag in _flags(name, value)]


def crontab_lines(schedules: list[Any]) -> list[str]:
    """Lines for system cron running each schedule with ``workbench run`` (``%`` escaped)."""
    lines = []
    for s in schedules:
        command = ["workbench", "run", s.notebook, "--name", s.name, *parameter_arguments(s.parameters)]
        options = [("--timeout", s.timeout), ("--cell-timeout", s.cell_timeout), ("--kernel", s.kernel)]
        for flag, value in [*options, ("--on", s.executor)]:
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

    from workbench.jobs.cancel import cancel_on_signals
    from workbench.jobs.scheduler import Scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    scheduler = Scheduler(lease_seconds=args.lease)
    with cancel_on_signals(scheduler.cancel) as cancel:
        scheduler.serve()
    if not cancel.requested:
        return 0
    ended = [r for r in scheduler.finished if r.status == "cancelled"]
    runs = f"; cancelled: {', '.join(r.run_id for r in ended)}" if ended else "; no run was going"
    print(f"workbench: scheduler stopped by {cancel.signal_name}{runs}", file=sys.stderr)
    return cancel.exit_code


def add_schedule_commands(
    subparsers: Any,
    add_run_options: Callable[[argparse.ArgumentParser], None],
    parameters: Callable[[argparse.Namespace], dict[str, Any]],
) -> None:
    schedule = subparsers.add_parser("schedule", help="run notebooks on a cron schedule")
    actions = schedule.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="add or replace a schedule",
        description="Add (or replace) a schedule: run NOTEBOOK as job NAME at the times of a cron "
        "expression (UTC), with the parameters given, read as for workbench run. The parameters are "
        "checked now; runs start when a 'workbench scheduler' is running on this store.",
    )
    add.add_argument("name", help="the schedule's name, also the job name of its runs")
    add.add_argument("notebook", help="the .ipynb file (kept as an absolute path)")
    add.add_argument("--cron", required=True, help='five cron fields, UTC, e.g. "*/5 * * * *"')
    add.add_argument("--allow-new-params", action="store_true", help="inject parameters the notebook does not declare")
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
    from workbench.jobs.scheduler import DEFAULT_LEASE_SECONDS

    scheduler = subparsers.add_parser(
        "scheduler",
        help="run due scheduled jobs until interrupted (any number per store: each due run is claimed once)",
        description="Run each schedule's job when it falls due, until SIGINT or SIGTERM. Any number of "
        "schedulers may share a store: each due time is claimed by one of them, and its run holds a "
        "lease renewed while it is alive; another scheduler takes over the schedules of one whose "
        "lease expired and marks its runs failed (runner_lost). Runs of one schedule never overlap "
        "(a due time that falls during a run is recorded skipped); due times missed while no "
        "scheduler ran are coalesced into one run; a kernel is started ahead of each schedule's next "
        "run. At start, runs of this host left 'running' by a process that died without a word are "
        "marked failed (runner_lost). SIGINT or SIGTERM cancels the running jobs (kernels stopped, "
        "runs recorded 'cancelled') and exits with 130 or 143.",
    )
    scheduler.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE_SECONDS,
        metavar="S",
        help="seconds after which another scheduler takes over the runs of one that stopped "
        f"(renewed every S/3; default {DEFAULT_LEASE_SECONDS:g})",
    )
    scheduler.set_defaults(func=_scheduler)


__all__ = ["add_schedule", "add_schedule_commands", "crontab_lines", "parameter_arguments"]
