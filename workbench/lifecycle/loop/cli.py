"""``workbench loop``: run the loop (``--once`` for one pass), and ``status``, ``pause``, ``resume``,
``decide``, ``rollback``. Parses and calls :mod:`workbench.lifecycle.loop`, nothing more."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

from workbench.errors import LoopError


def _run(args: argparse.Namespace) -> int:
    from workbench.config import load_settings
    from workbench.lifecycle.loop.engine import Loop, check_shared
    from workbench.lifecycle.loop.policy import load_policies

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    settings = load_settings()
    check_shared(settings)
    policies = load_policies(settings)
    if args.models:
        wanted = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in policies]
        if unknown:
            raise LoopError(f"no loop policy for {', '.join(unknown)}; policies: {', '.join(policies) or 'none'}")
        policies = {m: policies[m] for m in wanted}
    if not policies:
        raise LoopError("no loop policy to run", hint="declare [tool.workbench.loop.NAME] in pyproject.toml")
    loop = Loop(settings, policies=policies, interval=args.interval, lease_s=args.lease)
    print(f"workbench loop: {loop.owner} watching {', '.join(policies)}", flush=True)
    if args.once:
        try:
            results = loop.run_once(wait=True)
        finally:
            loop.close()
        for model, outcome in results.items():
            print(f"{model}: {outcome}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    try:
        loop.serve()
    except KeyboardInterrupt:
        loop.stop()
    return 0


def _status(args: argparse.Namespace) -> int:
    from workbench.lifecycle.loop.status import status

    found = status(args.model, events=args.events)
    print(json.dumps(found.to_record(), indent=2) if args.json else found)
    return 0


def _pause(args: argparse.Namespace) -> int:
    from workbench.lifecycle.loop.control import pause

    state = pause(args.model, reason=args.reason)
    print(f"{args.model}: paused by {state.paused.get('by') if state.paused else '?'}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from workbench.lifecycle.loop.control import resume

    resume(args.model)
    print(f"{args.model}: resumed")
    return 0


def _request(args: argparse.Namespace) -> int:
    from workbench.lifecycle.loop.control import request

    action = getattr(args, "choice", None) or "rollback"
    events = request(args.model, action, reason=args.reason, wait=args.wait)
    for event in events:
        print(f"#{event.seq} {event.kind}: {event.summary}")
    if len(events) <= 1:
        print(f"{args.model}: recorded; the running loop carries it out at its next pass")
    return 0


def add_commands(subparsers: Any) -> None:
    """Add ``loop`` and its subcommands to the ``workbench`` parser."""
    loop = subparsers.add_parser(
        "loop", help="retrain on new data or drift, challenge production, promote or retire from live evidence"
    )
    loop.add_argument("--once", action="store_true", help="one pass over every policy (a retrain is waited for)")
    loop.add_argument("--interval", type=float, default=30.0, metavar="S", help="seconds between passes (default 30)")
    loop.add_argument(
        "--lease", type=float, metavar="S",
        help="seconds a model stays this process's after its last renewal (default max(30, 3 x interval))",
    )
    loop.add_argument("--models", help="comma-separated model names (default: every policy)")
    loop.set_defaults(func=_run)
    actions = loop.add_subparsers(dest="loop_command", metavar="ACTION")
    show = actions.add_parser("status", help="policy, state, last trigger, A/B interval and timeline")
    show.add_argument("model", nargs="?", help="one model (default: every model with a policy or a state)")
    show.add_argument("--events", type=int, default=20, metavar="N", help="newest timeline events shown (default 20)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_status)
    pause = actions.add_parser("pause", help="stop acting on a model until resumed (recorded)")
    pause.add_argument("model")
    pause.add_argument("--reason", default="", help="why, kept in the timeline")
    pause.set_defaults(func=_pause)
    resume = actions.add_parser("resume", help="act on a paused model again (recorded)")
    resume.add_argument("model")
    resume.set_defaults(func=_resume)
    decide = actions.add_parser("decide", help="force the decision on the challenger: promote (gated) or retire")
    decide.add_argument("model")
    decide.add_argument("choice", choices=["promote", "retire"])
    rollback = actions.add_parser("rollback", help="put back the production version the current one replaced")
    rollback.add_argument("model")
    for parser in (decide, rollback):
        parser.add_argument("--reason", default="", help="why, kept in the timeline")
        parser.add_argument("--wait", type=float, default=30.0, metavar="S",
                            help="seconds to wait for a running loop to carry it out (default 30)")
        parser.set_defaults(func=_request)


__all__ = ["add_commands"]
