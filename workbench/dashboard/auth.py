"""The dashboard's guard: exact Host, a token on every route, exact Origin on the live channel.

A browser presents the token once as ``?token=``: the guard answers with an HttpOnly,
SameSite=Strict cookie and a redirect to the same URL without it (as Jupyter does), so
the token leaves the address bar and the history. Scripts send ``Authorization: Bearer``.
Every response carries a strict Content-Security-Policy (no inline script, no foreign
origin) and is never cached.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.errors import ConfigError
from workbench.listening import bearer, token_matches

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        # %dashboard --url shows the page in an IFrame of a notebook served from loopback
        "frame-ancestors 'self' http://localhost:* http://127.0.0.1:*",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def cookie_name(port: int) -> str:
    """One cookie per port: browsers share cookies across the ports of a host."""
    return f"workbench-dashboard-{port}"


def allowed_hosts(server: tuple[str, int] | None) -> set[str]:
    """The ``Host`` values a request to the socket ``server`` may carry (DNS-rebinding defence)."""
    if server is None:
        return set()
    host, port = server[0], server[1]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    names: Iterable[str] = _LOOPBACK_NAMES if loopback else (f"[{host}]" if ":" in host else host,)
    return {f"{name}:{port}" for name in names}


class TokenGuard:
    """ASGI middleware refusing any request without the token (401) or with a foreign Host or Origin (403)."""

    def __init__(self, app: ASGIApp, token: str, origin_checked: Iterable[str] = ("/api/events",)) -> None:
        if not token:
            raise ConfigError("the dashboard needs a non-empty token", hint="set WORKBENCH_TOKEN or pass --token")
        self.app = app
        self.token = token
        self.origin_checked = set(origin_checked)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers[key] = value
            await send(message)

        refusal = self._refusal(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        scope = request.scope
        server = scope.get("server")
        hosts = allowed_hosts(server)
        if request.headers.get("host", "") not in hosts:
            return PlainTextResponse("this dashboard answers only at the address it printed", status_code=403)
        root = scope.get("root_path", "")
        path = scope["path"][len(root) :] if root and scope["path"].startswith(root) else scope["path"]
        origin = request.headers.get("origin")
        if path in self.origin_checked and origin is not None and origin not in {f"http://{h}" for h in hosts}:
            return PlainTextResponse("cross-origin requests are refused", status_code=403)
        given = request.query_params.get("token")
        if given is not None:
            if not token_matches(given, self.token):
                return _unauthorized()
            # the token moves from the URL into a cookie; the redirect drops it from the address bar
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = (root + path) + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                cookie_name(server[1] if server else 0),
                self.token,
                path=root or "/",
                httponly=True,
                samesite="strict",
            )
            return response
        if token_matches(bearer(request.headers.get("authorization")), self.token):
            return None
        if token_matches(request.cookies.get(cookie_name(server[1] if server else 0)), self.token):
            return None
        return _unauthorized()


def _unauthorized() -> Response:
    return PlainTextResponse(
        "this dashboard needs its token: open the address `workbench dashboard` printed with ?token=TOKEN, "
        "or send Authorization: Bearer TOKEN",
        status_code=401,
        headers={"www-authenticate": "Bearer"},
    )


__all__ = ["CONTENT_SECURITY_POLICY", "TokenGuard", "allowed_hosts", "cookie_name"]
