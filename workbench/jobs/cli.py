"""``workbench run | runs | schedule | scheduler``: parse, call :mod:`workbench.jobs`, print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.errors import BadParametersError, RunCancelledError, RunFailedError

RUN_DESCRIPTION = """\
Execute a notebook as a production job with papermill: its cell tagged 'parameters'
gets the values given, and the run's executed notebook, status, metrics, models and
library versions are kept in the run history (workbench runs).

exit codes (for cron and Airflow):
  0    succeeded
  1    another error (unreadable notebook, store unavailable, ...)
  2    usage
  3    parameters refused (before any kernel starts)
  4    a cell raised (cell_error)
  5    the kernel died (kernel_died)
  6    a time limit was hit (timeout)
  7    the notebook stopped itself with sys.exit() or SystemExit before its last cell (exited)
  8    the kernel does not exist, never started or never answered (kernel_unavailable)
  9    the cluster engine running it (--on) died mid-run (engine_lost)
  130  cancelled by SIGINT (Ctrl-C); 143 cancelled by SIGTERM: the kernel is stopped and the
       run recorded 'cancelled'

Statuses, reasons and parameter rules: docs/jobs.md.
"""


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    from workbench.jobs.params import load_parameters_file, parse_value, parse_yaml_mapping

    values: dict[str, Any] = {}  # papermill's order: -f, then -y, then -p, then -r
    for path in args.parameters_file or []:
        values.update(load_parameters_file(path))
    for text in args.parameters_yaml or []:
        values.update(parse_yaml_mapping(text))
    for name, raw in args.parameter or []:
        values[name] = parse_value(raw)
    for name, raw in args.parameter_raw or []:
        values[name] = raw
    return values


def _help_params(notebook: str) -> int:
    from workbench.jobs.params import declared_parameters
    from workbench.jobs.runner import read_notebook

    declared = declared_parameters(read_notebook(Path(notebook)))
    if not declared:
        print(f"{notebook} has no cell tagged 'parameters'")
        return 0
    from workbench.formatting import text_table

    print(text_table(["parameter", "type", "default", "help"], [(p.name, p.type, p.default, p.help) for p in declared]))
    return 0


def _run(args: argparse.Namespace) -> int:
    from workbench.jobs.cancel import Cancellation, cancel_on_signals
    from workbench.jobs.runner import run

    if args.help_params:
        return _help_params(args.notebook)
    with cancel_on_signals(Cancellation()) as cancel:
        try:
            result = run(
                args.notebook,
                _parameters(args),
                name=args.name,
                timeout=args.timeout,
                cell_timeout=args.cell_timeout,
                retries=args.retries,
                kernel=args.kernel,
                allow_new_params=args.allow_new_params,
                cancel=cancel,
                run_id=args.run_id,
                on=args.on,
            )
        except RunCancelledError as exc:
            print(f"workbench: {exc}", file=sys.stderr)
            return int(exc.exit_code)
        except RunFailedError as exc:
            if exc.fields["run"].output:
                print(exc.fields["run"], file=sys.stderr)
            print(f"workbench: run failed: {exc}", file=sys.stderr)
            return int(exc.exit_code)
        except BadParametersError as exc:
            print(f"workbench: error: {exc}", file=sys.stderr)
            return int(exc.exit_code)
    print(result)
    return 0


def _runs(args: argparse.Namespace) -> int:
    from workbench.jobs.orphans import mark_lost_runs
    from workbench.names import validate_name
    from workbench.storage import open_storage
    from workbench.storage.run_records import runs_table

    with open_storage() as storage:
        store = storage.runs
        for lost in mark_lost_runs(store):
            print(f"workbench: run {lost.run_id} marked failed (runner_lost): {lost.error}", file=sys.stderr)
        if args.job in ("show", "open"):
            if not args.run_id:
                print(f"workbench: error: runs {args.job} needs a RUN_ID", file=sys.stderr)
                return 2
            found = store.require_run(args.run_id)
            print(found if args.job == "show" else store.output_path(found.run_id))
            return 0
        job = validate_name(args.job, "job name") if args.job else None
        print(runs_table(store.list_runs(job, limit=args.limit)))
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="a parameter, read as papermill's -p reads it: True, False, None, an int "
                             "(010 is 10), a float (1e3), else the exact string given")
    parser.add_argument("-r", "--parameter-raw", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="a parameter passed as a string, unparsed")
    parser.add_argument("-y", "--parameters-yaml", action="append", metavar="YAML",
                        help="parameters from a YAML mapping, e.g. 'layers: [1, 2]' (papermill's -y; YAML 1.1: "
                             "quote no, on, 010)")
    parser.add_argument("-f", "--parameters-file", action="append", metavar="FILE",
                        help="parameters from a YAML mapping file (repeatable; -y, -p and -r win, in that order)")
    parser.add_argument("--timeout", type=float, metavar="S", help="limit on the whole notebook's time")
    parser.add_argument("--cell-timeout", type=float, metavar="S", help="limit on each cell's time")
    parser.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    parser.add_argument("--on", metavar="PROFILE_OR_FILE",
                        help="run on an engine of an ipyparallel cluster: a profile name or its "
                        "ipcontroller-client.json (the run store must be Redis, or local on a shared filesystem)")


def add_commands(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="execute a notebook as a job (papermill), keeping its output, metrics and status",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("notebook", help="the .ipynb file")
    _add_run_options(run)
    run.add_argument("--name", help="job name (default: the notebook's file name)")
    run.add_argument("--retries", type=int, default=0, help="re-run a failed run up to N times")
    run.add_argument("--allow-new-params", action="store_true", help="inject parameters the notebook does not declare")
    run.add_argument("--help-params", action="store_true", help="list the notebook's parameters and exit")
    run.add_argument("--run-id", help="the run's id (default: a new one), for a caller that follows the run by its id")
    run.set_defaults(func=_run)

    runs = subparsers.add_parser(
        "runs",
        help="run history: runs [JOB] | runs show RUN_ID | runs open RUN_ID",
        description="The run history, newest first. Runs of this host left 'running' by a process that "
        "died without a word (SIGKILL, a crash) are marked failed (runner_lost) first.",
    )
    runs.add_argument("job", nargs="?", help="a job name, or 'show' / 'open'")
    runs.add_argument("run_id", nargs="?", help="with show or open: the run")
    runs.add_argument("--limit", type=int, default=50)
    runs.set_defaults(func=_runs)

    from workbench.jobs.schedule_cli import add_schedule_commands

    add_schedule_commands(subparsers, _add_run_options, _parameters)


__all__ = ["add_commands"]
