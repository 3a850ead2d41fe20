"""``workbench dashboard``: parse the flags and call :func:`workbench.dashboard.server.run_dashboard`."""

from __future__ import annotations

import argparse
from typing import Any


def _dashboard(args: argparse.Namespace) -> int:
    from workbench.dashboard.server import run_dashboard

    run_dashboard(args.host, args.port, token=args.token, poll=args.poll)
    return 0


def add_commands(subparsers: Any) -> None:
    """Add ``dashboard`` to the ``workbench`` parser."""
    parser = subparsers.add_parser("dashboard", help="serve the live dashboard of models, runs and schedules")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8050, help="port (0 picks a free one; default 8050)")
    parser.add_argument("--token", help="access token (default: WORKBENCH_TOKEN, else generated and printed once)")
    parser.add_argument(
        "--poll", type=float, default=1.0, metavar="S", help="how often the stores are read (default 1 s)"
    )
    parser.set_defaults(func=_dashboard)
