"""``workbench promote``: parse, call :func:`workbench.lifecycle.promotion.promote`, print its result."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.storage.model_records import STAGES


def _promote(args: argparse.Namespace) -> int:
    from workbench.lifecycle.promotion import promote

    result = promote(args.name, args.version, args.to, force=args.force, weight=args.weight)
    print(result.summary())
    return 0


def add_commands(subparsers: Any) -> None:
    """Add the lifecycle's subcommands to the ``workbench`` parser."""
    promote = subparsers.add_parser("promote", help="move a model version to another stage")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("--to", required=True, choices=STAGES, help="the new stage")
    promote.add_argument(
        "--force", action="store_true", help="promote to production even if the acceptance gates fail (recorded)"
    )
    promote.add_argument(
        "--weight", type=float, help="with --to challenger: the share of traffic in (0, 1) the challenger answers"
    )
    promote.set_defaults(func=_promote)


__all__ = ["add_commands"]
