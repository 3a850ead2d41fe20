"""The Thrift front end: the ``Predictor`` service of ``workbench.thrift`` over framed binary.

``workbench serve --thrift-port PORT`` runs it in threads of the HTTP server's process,
on the same :class:`PredictionService` (so both protocols share the models, the
prediction log, the live metrics and the counters). The handler only translates: a
request struct becomes the JSON API's body, the answer becomes a response struct, a
:class:`ServingError` becomes the IDL's typed exception.

Hostile clients are bounded before thriftpy2 decodes anything:

- each connection has its own thread, at most ``max_connections`` at once and at most
  ``max_connections_per_client`` from one client address (more are closed on accept), so
  one client holding idle sockets cannot lock the others out;
- a new connection must send its first byte within ``idle_timeout`` seconds, and every
  frame (and the wait for the next one) must complete within ``timeout`` seconds: a client
  that connects and sends nothing, or dribbles a frame, is dropped without holding anyone else up;
- a frame whose declared length is over ``--max-body`` closes the connection before the
  rest of it is awaited (a read takes at most 64 KiB beyond what a frame needs), so memory
  stays bounded by the frame limit;
- every string and container length in a frame is checked against
  :data:`STRING_LENGTH_LIMIT` and :data:`CONTAINER_LENGTH_LIMIT` (thriftpy2 0.7 has no such
  limits of its own), nesting against :data:`MAX_DEPTH`, strings must be UTF-8; a request
  over a limit gets ``BadInput`` and the connection stays usable.

``predict`` is answered without thriftpy2's per-value work where it costs most: rows of
doubles of one length, once the frame is checked, are read from it as one float64 matrix
(:meth:`FrameReader.predict_rows`; anything else is decoded by thriftpy2 as it comes, and
the rows then get the same value-by-value checks and messages as over HTTP), and the reply
is written from the service's answer by :class:`~workbench.serving.thrift_replies.PredictReplies`,
byte for byte what thriftpy2 writes.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from workbench.errors import (
    BadInputError,
    MissingDependencyError,
    ModelNotServedError,
    PayloadTooLargeError,
    ServingError,
    UnauthorizedError,
    WorkbenchError,
)
from workbench.listening import token_matches
from workbench.serving.factory import ServedModel
from workbench.serving.inputs import NOT_TEXT, TEXT_HINT
from workbench.serving.service import PredictionService
from workbench.serving.thrift_replies import PredictReplies

log = logging.getLogger("workbench.serving")

IDL_PATH = Path(__file__).with_name("workbench.thrift")
STRING_LENGTH_LIMIT = 65_536
CONTAINER_LENGTH_LIMIT = 65_536
MAX_DEPTH = 16
REFUSAL_LOG_SECONDS = 10.0
MAX_KEPT_LABELS = 4096


def load_idl() -> ModuleType:
    """The shipped ``workbench.thrift`` as a thriftpy2 module (parsed once, then cached by thriftpy2)."""
    try:
        import thriftpy2
    except ImportError as exc:
        raise MissingDependencyError("--thrift-port needs thriftpy2", hint="pip install 'workbench[serve]'") from exc
    return thriftpy2.load(str(IDL_PATH), module_name="workbench_thrift")


@dataclass(frozen=True)
class Limits:
    """How large a frame, a string and a list or map may be, and how deep values may nest."""

    max_frame: int
    string_length: int = STRING_LENGTH_LIMIT
    container_length: int = CONTAINER_LENGTH_LIMIT
    max_depth: int = MAX_DEPTH


# Thrift wire types (TType) and the byte size of the fixed-size ones.
_STOP, _DOUBLE, _STRING, _STRUCT, _MAP, _SET, _LIST = 0, 4, 11, 12, 13, 14, 15
_FIXED = {2: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8}
_VERSION_1 = 0x80010000
_CALL = 1


class FrameReader:
    """Checks one strict-binary message against :class:`Limits` without building any value.

    A malformed message raises :class:`BadInputError` (status 400), a string or container
    over its limit :class:`PayloadTooLargeError`.
    """

    def __init__(self, frame: bytes, limits: Limits) -> None:
        self.frame = frame
        self.limits = limits
        self.pos = 0
        self._body = 0
        self._equal: dict[int, tuple[int, int, int]] = {}

    def message_begin(self) -> tuple[str, int]:
        """The called method's name and the sequence id, from the message header."""
        (head,) = struct.unpack(">I", self._take(4))
        if head & 0xFFFF0000 != _VERSION_1 or head & 0xFF != _CALL:
            raise BadInputError("not a strict binary Thrift call", status=400, hint=_TRANSPORT_HINT)
        name = self._string()
        (seqid,) = struct.unpack(">i", self._take(4))
        self._body = self.pos
        return name, seqid

    def message_body(self) -> None:
        """Walk the call's argument struct; the frame must end with it."""
        self._value(_STRUCT, 0)
        if self.pos != len(self.frame):
            raise BadInputError("the frame holds bytes after the message", status=400, hint=_TRANSPORT_HINT)

    def _skip(self, n: int) -> int:
        """Move past ``n`` bytes (copying none of them); where they start."""
        start, self.pos = self.pos, self.pos + n
        if self.pos > len(self.frame):
            raise BadInputError("the message is truncated", status=400, hint=_TRANSPORT_HINT)
        return start

    def _take(self, n: int) -> bytes:
        start = self._skip(n)
        return self.frame[start : self.pos]

    def _length(self, what: str, unit: str, limit: int) -> int:
        (n,) = struct.unpack(">i", self._take(4))
        if n < 0:
            raise BadInputError(f"a {what} declares a negative length", status=400, hint=_TRANSPORT_HINT)
        if n > limit:
            raise PayloadTooLargeError(
                f"a {what} of {n} {unit} is longer than this server's limit of {limit}", hint=self._limits_hint()
            )
        return n

    def _limits_hint(self) -> str:
        return (
            f"strings may hold {self.limits.string_length} bytes and lists and maps "
            f"{self.limits.container_length} entries; split the request into smaller ones"
        )

    def _string(self) -> str:
        raw = self._take(self._length("string", "bytes", self.limits.string_length))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInputError(NOT_TEXT, status=400, hint=TEXT_HINT) from None

    def _value(self, ttype: int, depth: int) -> None:
        if ttype in _FIXED:
            self._skip(_FIXED[ttype])
            return
        if ttype == _STRING:
            self._string()
            return
        if depth >= self.limits.max_depth:
            raise BadInputError(f"values nest deeper than {self.limits.max_depth} levels", status=400)
        if ttype == _STRUCT:
            while (field_type := self._take(1)[0]) != _STOP:
                self._skip(2)
                self._value(field_type, depth + 1)
        elif ttype in (_LIST, _SET):
            element = self._take(1)[0]
            self._items((element,), self._length("list", "entries", self.limits.container_length), depth)
        elif ttype == _MAP:
            key, value = self._take(2)
            self._items((key, value), self._length("map", "entries", self.limits.container_length), depth)
        else:
            raise BadInputError(f"unknown Thrift type {ttype}", status=400, hint=_TRANSPORT_HINT)

    def _items(self, types: tuple[int, ...], n: int, depth: int) -> None:
        if all(t in _FIXED for t in types):
            # a row of doubles: one bounds check instead of one call per number
            self._skip(n * sum(_FIXED[t] for t in types))
            return
        if types == (_LIST,) and self._equal_rows(n, depth + 1) is not None:
            return
        for _ in range(n):
            for t in types:
                self._value(t, depth + 1)

    def _equal_rows(self, n: int, depth: int) -> tuple[int, int] | None:
        """Move past ``n`` lists at ``depth`` that hold the same number of the same fixed-size values, checked
        at once (rows of doubles); their element type and length. ``None``, without moving, for anything
        else, which the value-by-value walk then checks and refuses with its exact message."""
        start = self.pos
        seen = self._equal.get(start)
        if seen is not None:  # checked by the walk of the whole message already
            self.pos = seen[2]
            return seen[0], seen[1]
        if n < 1 or depth >= self.limits.max_depth or start + 5 > len(self.frame):
            return None
        element = self.frame[start]
        (length,) = struct.unpack_from(">i", self.frame, start + 1)
        if element not in _FIXED or not 0 <= length <= self.limits.container_length:
            return None
        stride = 5 + length * _FIXED[element]
        if start + n * stride > len(self.frame):
            return None
        heads = np.ndarray((n, 5), np.uint8, buffer=self.frame, offset=start, strides=(stride, 1))
        if not (heads == heads[0]).all():
            return None
        self.pos = start + n * stride
        self._equal[start] = (element, length, self.pos)
        return element, length

    def predict_rows(self) -> tuple[bytes, np.ndarray] | None:
        """For a checked ``predict`` call whose request holds ``instances`` as rows of doubles of one length:
        the frame without that field, and the rows as one float64 matrix, decoded in one pass.

        ``None`` for any other call (no rows, ragged rows, other element types, a field sent twice), which
        thriftpy2 decodes as it comes. Call after :meth:`message_body` has checked the frame.
        """
        self.pos = self._body
        requests, found = 0, []
        for field_type, field_id, _ in self._fields():
            if (field_type, field_id) != (_STRUCT, 1):
                self._value(field_type, 1)
                continue
            requests += 1
            for request_type, request_id, start in self._fields():
                if (request_type, request_id) == (_LIST, 2):
                    found.append((start, self._rows_of_doubles()))
                else:
                    self._value(request_type, 2)
        if requests != 1 or len(found) != 1:
            return None
        start, plain = found[0]
        if plain is None:
            return None
        end, rows = plain
        return self.frame[:start] + self.frame[end:], rows

    def _fields(self) -> Iterator[tuple[int, int, int]]:
        """Each field of the struct at the current position: its type, id and where its header starts; the
        caller moves past its value."""
        while (field_type := self._take(1)[0]) != _STOP:
            (field_id,) = struct.unpack(">h", self._take(2))
            yield field_type, field_id, self.pos - 3

    def _rows_of_doubles(self) -> tuple[int, np.ndarray] | None:
        """Move past the list at the current position; where it ends and its rows as a float64 matrix when
        they are lists of doubles of one length (at least one of each), else ``None``."""
        element = self._take(1)[0]
        n = self._length("list", "entries", self.limits.container_length)
        start = self.pos
        if element == _LIST and (found := self._equal_rows(n, 3)) is not None and found[0] == _DOUBLE and found[1]:
            stride = 5 + 8 * found[1]
            wire = np.ndarray((n, found[1]), ">f8", buffer=self.frame, offset=start + 5, strides=(stride, 8))
            return self.pos, wire.astype(np.float64)
        self.pos = start
        self._items((element,), n, 2)
        return None


_TRANSPORT_HINT = "use the framed transport and the strict binary protocol (see workbench.thrift)"


class PredictorHandler:
    """The ``Predictor`` methods over a :class:`PredictionService`; refusals become the IDL's exceptions."""

    def __init__(self, service: PredictionService, idl: ModuleType) -> None:
        self.service = service
        self.idl = idl
        self._labels: dict[tuple[type, Any], Any] = {}

    def predict(self, request: Any) -> Any:
        """The ``PredictResponse`` for ``request`` (the server writes :meth:`predicted`'s answer itself)."""
        return self.response(self.predicted(request))

    def response(self, answer: dict[str, Any]) -> Any:
        """The service's answer as a ``PredictResponse``."""
        return self.idl.PredictResponse(
            model=answer["model"],
            version=answer["version"],
            predictions=[self.label(p) for p in answer["predictions"]],
            probabilities=answer["probabilities"],
            request_ids=answer["request_ids"],
            arm=answer["arm"],
        )

    def predicted(self, request: Any) -> dict[str, Any]:
        """The service's answer to a ``PredictRequest``, whose ``instances`` may be a float64 matrix already."""
        with self.refusals(), self.service.observed("predict") as seen:
            _given(request, "PredictRequest")
            route = self.service.route(_name(request.model), seen)
            body = {k: v for k, v in (("instances", request.instances), ("records", request.records)) if v is not None}
            # Thrift's instances are doubles: nothing but numbers, converted in one call
            return self.service.predict(route, body, routing_key=request.routing_key, seen=seen, numbers_only=True)

    def feedback(self, request: Any) -> Any:
        with self.refusals(), self.service.observed("feedback") as seen:
            _given(request, "FeedbackRequest")
            given = request.token if isinstance(request.token, str) else None
            if not token_matches(given, self.service.config.token):
                raise UnauthorizedError("feedback needs the server's token", hint=_TOKEN_HINT)
            route = self.service.route(_name(request.model))
            seen.model = route.name
            labels = None if request.labels is None else [_label_value(i, x) for i, x in enumerate(request.labels)]
            result = self.service.feedback(route, {"request_ids": request.request_ids, "labels": labels})
        return self.idl.FeedbackResponse(accepted=result.accepted, unknown=result.unknown, duplicate=result.duplicate)

    def models(self) -> list[Any]:
        with self.refusals():
            return [self.describe(served) for served in self.service.factory.served()]

    def describe(self, served: ServedModel) -> Any:
        v = served.version
        return self.idl.ModelInfo(
            name=v.name,
            version=v.version,
            stage=v.stage,
            n_features=served.shape.n_features,
            feature_names=list(served.shape.feature_names),
            classes=[self.label(c) for c in v.classes],
            handles_missing_values=served.shape.allow_nan,
            metrics={k: float(m) for k, m in v.metrics.items()},
            created_at=v.created_at,
            engine=served.engine.name,
        )

    def label(self, value: Any) -> Any:
        """A class or prediction as a ``Label`` holding the same Python type the JSON API gives.

        Labels are kept per value (a model has few classes), so an answer of many rows
        builds none: they are only written, never changed.
        """
        key = (type(value), value)
        found = self._labels.get(key)
        if found is None:
            found = self._new_label(value)
            if len(self._labels) < MAX_KEPT_LABELS:
                self._labels[key] = found
        return found

    def _new_label(self, value: Any) -> Any:
        if isinstance(value, bool):
            return self.idl.Label(flag=value)
        if isinstance(value, int):
            return self.idl.Label(integer=value)
        if isinstance(value, float):
            return self.idl.Label(number=value)
        return self.idl.Label(text=str(value))

    @contextmanager
    def refusals(self) -> Iterator[None]:
        """Raise the IDL's exception for a workbench refusal; nothing else reaches the client."""
        from thriftpy2.thrift import TApplicationException

        try:
            yield
        except ModelNotServedError as exc:
            raise self.idl.UnknownModel(message=exc.message, hint=exc.hint) from None
        except UnauthorizedError as exc:
            raise self.idl.Unauthorized(message=exc.message, hint=exc.hint) from None
        except ServingError as exc:
            raise self.idl.BadInput(message=exc.message, hint=exc.hint, status=int(exc.status)) from None
        except WorkbenchError as exc:
            # store failures may name hosts or files: the detail goes to the log, not to the client
            log.warning("thrift: %s", exc)
            raise self.idl.Unavailable(message="the model store could not answer", hint="retry in a moment") from None
        except Exception:
            log.exception("thrift: a request failed")
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, _FAILED) from None


_FAILED = "the server failed to answer; see its log"
_TOKEN_HINT = "set FeedbackRequest.token to the token the server was started with"


def _given(request: Any, kind: str) -> None:
    """Refuse a call whose request argument is missing (a client may send the call with no field)."""
    if request is None:
        raise BadInputError(f"the call has no request; pass a {kind}", status=400)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadInputError("set the request's model to a served model's name")
    return value


def _label_value(index: int, label: Any) -> Any:
    """The one value a ``Label`` holds; a label with none or several set is refused."""
    values = [v for v in (label.integer, label.number, label.text, label.flag) if v is not None]
    if len(values) != 1:
        raise BadInputError(f"labels[{index}] must set exactly one of integer, number, text or flag")
    return values[0]


class ThriftServer:
    """Serves ``Predictor`` on an already listening ``sock``, one thread per connection."""

    def __init__(
        self,
        service: PredictionService,
        sock: socket.socket,
        *,
        timeout: float = 30.0,
        idle_timeout: float = 5.0,
        max_connections: int = 256,
        max_connections_per_client: int = 32,
    ) -> None:
        self.idl = load_idl()
        from thriftpy2.thrift import TProcessor

        self.sock = sock
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.max_connections_per_client = max_connections_per_client
        self._per_client: dict[str, int] = {}
        self._refusals = 0
        self._next_refusal_log = 0.0
        self.limits = Limits(max_frame=service.config.max_body)
        self.handler = PredictorHandler(service, self.idl)
        self._processor = TProcessor(self.idl.Predictor, self.handler)
        self.replies = PredictReplies(self._label_bytes)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        self._open: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        """Accept connections in a daemon thread until :meth:`stop`."""
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, name="workbench-thrift", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, drop open connections (a call being answered finishes first), close the socket."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            open_now = dict(self._open)
        for conn in open_now:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RD)
        deadline = time.monotonic() + 10
        for thread in open_now.values():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.sock.close()

    def answer(self, frame: bytes) -> bytes:
        """The reply frame's payload for one call frame; :class:`ServingError` when the header is unreadable."""
        from thriftpy2.protocol import TBinaryProtocol
        from thriftpy2.thrift import TApplicationException
        from thriftpy2.transport import TMemoryBuffer

        reader = FrameReader(frame, self.limits)
        name, seqid = reader.message_begin()
        out = TMemoryBuffer()
        try:
            reader.message_body()
        except ServingError as exc:
            self._refuse(TBinaryProtocol(out), name, seqid, exc)
            return bytes(out.getvalue())
        try:
            if name == "predict":
                return self._predict(frame, reader, seqid)
            self._processor.process(TBinaryProtocol(TMemoryBuffer(frame)), TBinaryProtocol(out))
        except Exception:
            log.exception("thrift: cannot answer a %r call", name[:64])
            out = TMemoryBuffer()
            error = TApplicationException(TApplicationException.INTERNAL_ERROR, _FAILED)
            self._processor.send_exception(TBinaryProtocol(out), name, error, seqid)
        return bytes(out.getvalue())

    def _predict(self, frame: bytes, reader: FrameReader, seqid: int) -> bytes:
        """A checked ``predict`` call answered as thriftpy2's processor would, with its rows decoded in one
        pass when they are plain (:meth:`FrameReader.predict_rows`) and the reply written by
        :class:`PredictReplies`; a refusal is written by thriftpy2 as the declared exception."""
        from thriftpy2.protocol import TBinaryProtocol
        from thriftpy2.thrift import TApplicationException
        from thriftpy2.transport import TMemoryBuffer

        rows = reader.predict_rows()
        iprot = TBinaryProtocol(TMemoryBuffer(frame if rows is None else rows[0]))
        iprot.read_message_begin()
        args = self.idl.Predictor.predict_args()
        args.read(iprot)
        if rows is not None:
            args.request.instances = rows[1]
        out = TMemoryBuffer()
        oprot = TBinaryProtocol(out)
        try:
            return self.replies.reply(seqid, self.handler.predicted(args.request))
        except TApplicationException as exc:
            self._processor.send_exception(oprot, "predict", exc, seqid)
        except Exception as exc:
            result = self.idl.Predictor.predict_result()
            if not self._processor.handle_exception(exc, result):
                raise
            self._processor.send_result(oprot, "predict", result, seqid)
        return bytes(out.getvalue())

    def _label_bytes(self, value: Any) -> bytes:
        """The encoded ``Label`` struct of a class or prediction, as thriftpy2 writes it."""
        from thriftpy2.protocol import TBinaryProtocol
        from thriftpy2.transport import TMemoryBuffer

        out = TMemoryBuffer()
        self.handler.label(value).write(TBinaryProtocol(out))
        return bytes(out.getvalue())

    def _refuse(self, oprot: Any, name: str, seqid: int, exc: ServingError) -> None:
        """Answer a call refused before decoding: ``BadInput`` when the method declares it, counted like HTTP's."""
        from thriftpy2.thrift import TApplicationException

        result_type: Any = getattr(self.idl.Predictor, f"{name}_result", None)
        if name in self.idl.Predictor.thrift_services and "bad_input" in _fields(result_type):
            self.handler.service.counters.observe(name, "", "", int(exc.status), 0.0, type(exc).__name__)
            bad_input = self.idl.BadInput(message=exc.message, hint=exc.hint, status=int(exc.status))
            self._processor.send_result(oprot, name, result_type(bad_input=bad_input), seqid)
            return
        error = TApplicationException(TApplicationException.PROTOCOL_ERROR, exc.message)
        self._processor.send_exception(oprot, name, error, seqid)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    return
                log.warning("thrift: accept failed: %s", exc)
                time.sleep(0.1)
                continue
            client = str(peer[0])
            if not self._admit(client):
                conn.close()
                continue
            thread = threading.Thread(
                target=self._connection, args=(conn, client), name="workbench-thrift-conn", daemon=True
            )
            with self._lock:
                self._open[conn] = thread
            thread.start()

    def _admit(self, client: str) -> bool:
        """Take a slot for a new connection from ``client``; ``False`` when it is over a limit.

        Refusals are logged at most once per :data:`REFUSAL_LOG_SECONDS`, with their count: a
        client reconnecting in a loop must not flood the log.
        """
        with self._lock:
            if self._per_client.get(client, 0) >= self.max_connections_per_client:
                self._refused(f"{client} already had {self.max_connections_per_client} open connections")
                return False
            if not self._slots.acquire(blocking=False):
                self._refused("the server had its most open connections")
                return False
            self._per_client[client] = self._per_client.get(client, 0) + 1
            return True

    def _refused(self, why: str) -> None:
        self._refusals += 1
        now = time.monotonic()
        if now >= self._next_refusal_log:
            log.warning("thrift: closed %d new connection(s) over the limits (last: %s)", self._refusals, why)
            self._refusals, self._next_refusal_log = 0, now + REFUSAL_LOG_SECONDS

    def _release(self, client: str) -> None:
        with self._lock:
            left = self._per_client.pop(client) - 1
            if left:
                self._per_client[client] = left
        self._slots.release()

    def _connection(self, conn: socket.socket, client: str) -> None:
        first = True
        pending = bytearray()  # bytes received and not yet used: the start of the next frame
        try:
            conn.settimeout(None)  # blocking: the deadlines are the system's (_receive, _send)
            while not self._stopping.is_set():
                frame = self._read_frame(conn, pending, self.idle_timeout if first else self.timeout)
                first = False
                if frame is None or self._stopping.is_set():
                    return
                reply = self.answer(frame)
                # a client that does not read its replies is dropped after the timeout too
                _send(conn, struct.pack(">i", len(reply)) + reply, time.monotonic() + self.timeout)
        except (OSError, ServingError) as exc:
            # a timeout, a reset, a frame over the limit, an unreadable header: drop this client only
            log.info("thrift: closing a connection: %s", exc)
        finally:
            with self._lock:
                self._open.pop(conn, None)
            conn.close()
            self._release(client)

    def _read_frame(self, conn: socket.socket, pending: bytearray, wait: float) -> bytes | None:
        """The next frame's payload (its first byte within ``wait`` seconds); ``None`` at a clean end of stream.

        Each read asks for at least 64 KiB, so a frame's header and body usually come in one
        call: every socket call lets another thread take the interpreter, which a busy
        prediction log's writer may then hold for milliseconds before this thread gets it back.
        """
        if not _receive(conn, pending, 4, time.monotonic() + wait, eof_ok=True):
            return None
        (size,) = struct.unpack_from(">i", pending)
        if not 0 < size <= self.limits.max_frame:
            raise PayloadTooLargeError(f"a frame of {size} bytes (the limit is {self.limits.max_frame})")
        _receive(conn, pending, 4 + size, time.monotonic() + self.timeout, eof_ok=False)
        frame = bytes(pending[4 : 4 + size])
        del pending[: 4 + size]
        return frame


def _fields(struct_type: Any) -> set[str]:
    return {spec[1] for spec in getattr(struct_type, "thrift_spec", {}).values()}


_READ_SIZE = 1 << 16


def _receive(conn: socket.socket, pending: bytearray, n: int, deadline: float, *, eof_ok: bool) -> bool:
    """Receive into ``pending`` until it holds ``n`` bytes, before ``deadline`` (a slow sender times out as a
    silent one does); ``False`` when the client closed the connection before sending anything more.

    The wait is the system's receive timeout on a blocking socket (set without a system call
    that releases the interpreter), so a read is one call, not a poll and a read.
    """
    while len(pending) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client is too slow")
        _receive_timeout(conn, remaining)
        try:
            chunk = conn.recv(max(n - len(pending), _READ_SIZE))
        except BlockingIOError:
            raise TimeoutError("the client is too slow") from None
        if not chunk:
            if eof_ok and not pending:
                return False
            raise ConnectionError("the client closed the connection mid-frame")
        pending += chunk
    return True


def _send(conn: socket.socket, data: bytes, deadline: float) -> None:
    """Send all of ``data`` before ``deadline``: at once when the socket's buffer takes it (one system
    call), else as the client reads, waiting at most until the deadline in all."""
    view = memoryview(data)
    while view:
        try:
            view = view[conn.send(view, socket.MSG_DONTWAIT) :]
            continue
        except BlockingIOError:
            pass
        remaining = deadline - time.monotonic()
        writable = select.poll()
        writable.register(conn, select.POLLOUT)
        if remaining <= 0 or not writable.poll(remaining * 1000):
            raise TimeoutError("the client does not read its replies")


def _receive_timeout(conn: socket.socket, seconds: float) -> None:
    """Set the socket's ``SO_RCVTIMEO`` (a ``struct timeval``; 0 would mean no timeout at all)."""
    seconds = max(seconds, 0.001)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))


__all__ = [
    "CONTAINER_LENGTH_LIMIT",
    "IDL_PATH",
    "MAX_DEPTH",
    "STRING_LENGTH_LIMIT",
    "FrameReader",
    "Limits",
    "PredictorHandler",
    "ThriftServer",
    "load_idl",
]
