"""The ``workbench`` command: parses arguments and calls the library, nothing more.

Each feature contributes its subcommands from its own module (``add_commands``), so
this file only assembles them. Exit codes: 0 success, 1 a workbench error, 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from workbench import __version__
from workbench.errors import WorkbenchError

# Modules that define ``add_commands(subparsers)``; each subparser sets ``func``.
COMMAND_MODULES: list[str] = [
    "workbench.notebooks",
    "workbench.jobs.cli",
    "workbench.registry.cli",
    "workbench.lifecycle.cli",
    "workbench.lifecycle.loop.cli",
    "workbench.serving.cli",
    "workbench.dashboard.cli",
    "workbench.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Take a scikit-learn classifier from a notebook to production.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code.

    A reader that goes away before the output ends (``workbench runs | head``) ends the
    command quietly with 141, as a tool stopped by SIGPIPE, not with a traceback.
    """
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a reader gone shows here, not as an ignored error at exit
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 128 + signal.SIGPIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
