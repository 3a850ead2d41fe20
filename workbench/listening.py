"""What every server command shares: the listening socket, the banner it prints, the token it checks.

``workbench serve`` (HTTP, Thrift, the mounted dashboard) and ``workbench dashboard`` bind
their socket here (so ``--port 0`` picks a free port and the printed address is the real
one), print one banner, and compare a presented token with :func:`token_matches`, the one
constant-time check every front end uses. The token comes from the caller, else
``WORKBENCH_TOKEN``, else is generated and printed once; it never appears in a URL or a log line.
"""

from __future__ import annotations

import hmac
import os
import secrets
import socket
import sys
from collections.abc import Sequence

from workbench.errors import ConfigError

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def resolve_token(given: str | None) -> tuple[str, bool]:
    """The token and whether it was generated here (and so must be shown to the user)."""
    token = given or os.environ.get("WORKBENCH_TOKEN", "")
    if token:
        return token, False
    return secrets.token_urlsafe(32), True


def token_matches(given: str | None, token: str) -> bool:
    """Whether ``given`` is ``token``, compared in constant time; an empty or missing token never matches."""
    if not given or not token:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass"))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header value (``None`` for any other scheme)."""
    scheme, _, given = (authorization or "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; raises :class:`ConfigError` when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: uvicorn writes headers and body apart, and Nagle's
        # algorithm would hold the body back for a delayed ACK (about 40 ms per response)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port") from exc
    return sock


def address(host: str, sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a bound socket (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}"


def announce(command: str, url: str, host: str, *, details: str = "", lines: Sequence[str] = ()) -> None:
    """The banner: ``workbench COMMAND: listening on URL (DETAILS)``, then ``lines``, and a warning off loopback.

    Tests, scripts and users read the address from its first line.
    """
    print(f"workbench {command}: listening on {url}" + (f" ({details})" if details else ""), flush=True)
    for line in lines:
        print(f"workbench {command}: {line}", flush=True)
    if host not in LOOPBACK:
        print(f"workbench {command}: warning: listening on {host}, reachable from other machines", file=sys.stderr)


__all__ = ["LOOPBACK", "address", "announce", "bearer", "bind", "resolve_token", "token_matches"]
