"""uvicorn's httptools protocol with the limits it lacks: header size and count, header, body and idle timeouts.

uvicorn bounds only the idle time between two requests (``timeout_keep_alive``); on
httptools it has no limit on a request's header size (httptools joins a long header
value by concatenation, so a 64 MiB header took the event loop 12 to 21 s), none on the
number of headers, no deadline for the headers or the body of a request (slowloris
clients were never closed), and none for a connection that never sends its first byte.
:class:`GuardedHttpToolsProtocol` adds them, per :class:`~workbench.serving.limits.ConnectionLimits`:

- the request line and headers of a request may hold ``max_header_bytes`` bytes and
  ``max_headers`` lines: the bytes are counted before httptools sees them, and a request
  crossing either limit gets 431 and its connection is closed (httptools never holds more
  than the limit);
- its headers must arrive within ``header_timeout`` seconds of its first byte, its body
  within ``body_timeout`` seconds of its headers: else 408 (when no response has started)
  and the connection is closed; the app sees a disconnected client;
- a connection may stay silent ``keep_alive_timeout`` seconds before its first request as
  between two (uvicorn's timer, armed at connect too).

Refusals are the API's JSON error bodies, and so is the 400 for bytes httptools cannot parse.

It also answers the common predict request itself, without ASGI (see :class:`_Direct`): a
``POST /v1/models/{name}/predict`` of HTTP/1.1 with a ``Content-Length`` within the body
limit, for a model that answers on the event loop (ONNX Runtime), arriving while no other
request of the connection is in flight. When its body is complete, the answer is
computed by :meth:`PredictEndpoint.answer_now <workbench.serving.app.PredictEndpoint.answer_now>`
(the same checks, counters, log and error bodies as the ASGI route) and written in one
call: no scope, no task, no ASGI messages, which cost a bare endpoint more than predicting
a row. Anything else (another route, a model on scikit-learn, ``Expect: 100-continue``,
HTTP/1.0, ``Connection: close``, a chunked body, an upgrade, a request pipelined behind one
still answering, an app mounted under another path) goes through uvicorn as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from workbench.serving.app import PredictEndpoint, RequestHead
from workbench.serving.limits import ConnectionLimits
from workbench.serving.routing import Route

log = logging.getLogger("workbench.serving")

_PREFIX = b"/v1/models/"
_SUFFIX = b"/predict"


class _Direct:
    """A predict request answered by the protocol itself, while its body arrives."""

    __slots__ = ("body", "head", "name", "route", "started")

    def __init__(self, name: str, route: Route, head: RequestHead, started: float) -> None:
        self.name = name
        self.route = route
        self.head = head
        self.started = started
        self.body: list[bytes] = []

    @property
    def path(self) -> str:
        return f"/v1/models/{self.name}/predict"


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that crossed a limit."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One HTTP connection, as uvicorn's, bounded by ``limits``."""

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_bytes = 0  # bytes of the request line and headers read so far (0 between requests)
        self._header_lines = 0
        self._in_body = False
        self._refusal: str | None = None
        # one timer per connection, re-armed only when it fires: a kept-alive connection answering
        # thousands of requests a second must not create and cancel two timers for each of them
        self._deadline: asyncio.TimerHandle | None = None
        self._phase_started: float | None = None  # when the current request's headers (or body) began
        # predicts answered here (see the module's docstring): only for the API's own app at the root
        app = self.app
        direct = isinstance(app, PredictEndpoint) and not self.root_path and self.limit_concurrency is None
        self._endpoint: PredictEndpoint | None = app if direct else None
        self._direct: _Direct | None = None  # the request being answered here, until its body is complete
        self._close_after_direct = False  # the server is shutting down: close once that request is answered
        self._read_paused_for_write = False
        self._head_cache: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # a connection that never sends a byte is closed like an idle keep-alive one
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        direct, self._direct = self._direct, None
        if direct is not None and self._endpoint is not None:
            self._endpoint.abandoned(direct.route, direct.path, direct.started)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while data and not self.transport.is_closing():
            if self._in_body:
                self._feed(data)
                return
            if self._phase_started is None:
                self._phase_started = self.loop.time()
                self._arm(self.limits.header_timeout)
            room = self.limits.max_header_bytes - self._head_bytes
            part, data = data[:room], data[room:]
            self._head_bytes += len(part)
            self._feed(part)
            if data and not self._in_body and not self.transport.is_closing():
                # the headers go on past the limit: nothing more of them is read
                self._refuse(431, f"the request's headers are larger than {self.limits.max_header_bytes} bytes")
                return

    def _feed(self, data: bytes) -> None:
        """uvicorn's ``data_received``, with refusals of our own in place of its plain-text 400."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no protocol upgrade is served (uvicorn runs with ws="none"): the request was answered as is
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(431, self._refusal)
            else:
                self._refuse(400, "the request is not valid HTTP/1.1")

    def on_message_begin(self) -> None:
        self._header_lines = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines += 1
        if self._header_lines > self.limits.max_headers:
            self._refusal = f"the request has more than {self.limits.max_headers} headers"
            raise _Refused(self._refusal)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._phase_started = self.loop.time()
        self._arm(self.limits.body_timeout)
        if self._endpoint is None or not self._take_directly():
            super().on_headers_complete()

    def _take_directly(self) -> bool:
        """Whether this request is a predict the protocol answers itself (see the module's docstring)."""
        url = self.url
        if not (url.startswith(_PREFIX) and url.endswith(_SUFFIX)) or self.expect_100_continue:
            return False
        parser = self.parser
        if parser.get_method() != b"POST" or parser.get_http_version() != "1.1" or not parser.should_keep_alive():
            return False
        if parser.should_upgrade() or self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            return False
        raw = url[len(_PREFIX) : -len(_SUFFIX)]
        if not raw or not raw.isascii() or b"/" in raw or b"%" in raw or b"?" in raw or b"#" in raw:
            return False
        head = RequestHead(self.headers)
        declared = head.content_length
        endpoint = self._endpoint
        assert endpoint is not None
        if declared is None or head.chunked or not declared.isdigit() or int(declared) > endpoint.limit:
            return False  # the ASGI route reads (or refuses) bodies of unknown or excessive length
        started = time.perf_counter()
        route = endpoint.inline_route(raw.decode("ascii"))
        if route is None:
            return False
        self._direct = _Direct(route.name, route, head, started)
        return True

    def on_body(self, body: bytes) -> None:
        direct = self._direct
        if direct is not None:
            direct.body.append(body)  # at most the declared length, within the body limit
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._phase_started = None
        self._head_bytes = 0
        direct = self._direct
        if direct is None:
            super().on_message_complete()
            return
        self._direct = None
        body = direct.body[0] if len(direct.body) == 1 else b"".join(direct.body)
        endpoint = self._endpoint
        assert endpoint is not None
        status, data = endpoint.answer_now(direct.route, direct.head, body, direct.path, direct.started)
        self._respond(status, data)

    def _respond(self, status: int, data: bytes) -> None:
        """Write one answer as uvicorn would (its default headers, then ours), in one call; then what uvicorn
        does after a response: count it, close or re-arm the keep-alive timer, respect the write buffer."""
        if self.transport.is_closing():
            return
        defaults = self.server_state.default_headers
        cached, head = self._head_cache
        if cached is not defaults:  # uvicorn replaces the list (its date header) every second
            head = b"".join(b"%s: %s\r\n" % pair for pair in defaults)
            self._head_cache = (defaults, head)
        close = b"connection: close\r\n" if self._close_after_direct else b""
        self.transport.write(
            b"%s%scontent-length: %d\r\ncontent-type: application/json\r\n%s\r\n%s"
            % (STATUS_LINE[status], head, len(data), close, data)
        )
        self.server_state.total_requests += 1
        if close:
            self.transport.close()
            return
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
        if self.flow.write_paused:
            # the client does not read its answers: read no more requests until it does
            self.flow.pause_reading()
            self._read_paused_for_write = True

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._read_paused_for_write:
            self._read_paused_for_write = False
            self.flow.resume_reading()

    def shutdown(self) -> None:
        if self._direct is not None:
            self._close_after_direct = True  # answered, then closed, as uvicorn does for a request in flight
        else:
            super().shutdown()

    def _arm(self, seconds: float) -> None:
        """Make sure the timer fires within ``seconds`` (it checks, when it fires, what is late)."""
        if self._deadline is None or self._deadline.when() > self.loop.time() + seconds:
            self._cancel_deadline()
            self._deadline = self.loop.call_later(seconds, self._check_deadline)

    def _check_deadline(self) -> None:
        self._deadline = None
        if self._phase_started is None:
            return  # between requests: the keep-alive timer watches the connection
        part, seconds = ("body", self.limits.body_timeout) if self._in_body else ("headers", self.limits.header_timeout)
        late = self.loop.time() - (self._phase_started + seconds)
        if late >= 0:
            self._refuse(408, f"the request's {part} did not arrive within {seconds:g} s")
        else:
            self._deadline = self.loop.call_later(-late, self._check_deadline)

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a JSON error body (unless a response has started) and close the connection.

        A request whose app is still waiting for its body sees a disconnected client.
        """
        self._cancel_deadline()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            body = orjson.dumps({"error": "BadInputError", "message": message, "hint": _HINTS[status]})
            head = b"%scontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            self.transport.write(head % (STATUS_LINE[status], len(body)) + body)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


_HINTS = {
    400: "send an HTTP/1.1 request",
    408: "send the whole request without pausing; see docs/serving.md for the timeouts",
    431: "send fewer and shorter headers; see docs/serving.md for the limits",
}


__all__ = ["GuardedHttpToolsProtocol"]
