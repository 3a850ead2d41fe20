"""``workbench serve``: parse the flags and call :func:`workbench.serving.server.serve`."""

from __future__ import annotations

import argparse
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    from workbench.config import load_settings
    from workbench.serving.limits import ConnectionLimits
    from workbench.serving.server import serve

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    limits = ConnectionLimits.resolve(
        load_settings(),
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
    )
    serve(
        args.host,
        args.port,
        models=models,
        token=args.token,
        max_body=args.max_body,
        max_rows=args.max_rows,
        reload_seconds=args.reload_seconds,
        thrift_port=args.thrift_port,
        workers=args.workers,
        limits=limits,
        replica_name=args.replica_name,
    )
    return 0


def add_commands(subparsers: Any) -> None:
    """Add ``serve`` to the ``workbench`` parser."""
    serve = subparsers.add_parser("serve", help="serve production models over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one; default 8000)")
    serve.add_argument("--models", help="comma-separated model names (default: every model in production)")
    serve.add_argument(
        "--token", help="token for write routes (default: WORKBENCH_TOKEN, else generated and printed once)"
    )
    serve.add_argument("--max-body", type=int, default=1_048_576, metavar="BYTES", help="largest request body")
    serve.add_argument("--max-rows", type=int, default=1_000, metavar="N", help="most rows per request")
    serve.add_argument(
        "--reload-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="look for a newly promoted version at least this often; a Redis store also notifies at once (0: never)",
    )
    serve.add_argument(
        "--thrift-port",
        type=int,
        metavar="PORT",
        help="also serve the Thrift Predictor service (workbench.thrift) on this port (0 picks a free one)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port, each with its own copy of the models (default 1)",
    )
    serve.add_argument(
        "--replica-name",
        metavar="NAME",
        help="this server's name on the dashboard among replicas sharing the store (default host:pid)",
    )
    limits = serve.add_argument_group(
        "connection limits", "default: the key of the same name in [tool.workbench.serving], else the value shown"
    )
    limits.add_argument("--max-header-bytes", type=int, metavar="BYTES", help="request line and headers (65536)")
    limits.add_argument("--max-headers", type=int, metavar="N", help="header lines per request (100)")
    limits.add_argument(
        "--header-timeout", type=float, metavar="S", help="seconds from a request's first byte to its last header (10)"
    )
    limits.add_argument("--body-timeout", type=float, metavar="S", help="seconds from the headers to the body end (30)")
    limits.add_argument("--keep-alive-timeout", type=float, metavar="S", help="seconds a connection may stay idle (5)")
    serve.set_defaults(func=_serve)
