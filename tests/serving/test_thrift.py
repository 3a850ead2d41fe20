"""The Thrift front end: a client built from the shipped IDL against a real ``workbench serve --thrift-port 0``.

Parity with HTTP (same predictions, probabilities, refusals and messages), feedback with
and without the token, the length limits, and hostile clients (garbage bytes, huge
declared lengths, idle and half-sent frames) that must not take the server down.
"""

from __future__ import annotations

import json
import math
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType
from thriftpy2.transport import TMemoryBuffer, TTransportException

import workbench.errors
from tests.serving.conftest import TOKEN, Server, fit_iris, iris_data, register_iris, start_server
from tests.stages import in_production
from workbench.config import load_settings
from workbench.errors import ServingError, StorageUnavailableError, WorkbenchError
from workbench.listening import bind
from workbench.registry.api import Registry, default_registry
from workbench.serving.factory import ModelFactory
from workbench.serving.routing import key_share
from workbench.serving.service import PredictionService, ServeConfig
from workbench.serving.thrift_client import connect, label_value, predictions
from workbench.serving.thrift_server import (
    CONTAINER_LENGTH_LIMIT,
    IDL_PATH,
    STRING_LENGTH_LIMIT,
    FrameReader,
    Limits,
    PredictorHandler,
    ThriftServer,
    load_idl,
)
from workbench.storage import open_storage

MAX_BODY = 262_144
MAX_ROWS = 50
ROW = [5.9, 3.0, 5.1, 1.8]
SPECIES = np.array(["setosa", "versicolor", "virginica"])
_THRIFT_LINE = re.compile(r"workbench serve: thrift on 127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """One server, HTTP and Thrift: ``iris`` (integer classes), ``species`` (string classes), ``ab`` (A/B)."""
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("thrift")
    home = folder / "wbhome"
    storage = open_storage(load_settings(home=home, cwd=folder, environ={}), url="local")
    store = storage.models
    try:
        registry = Registry(store)
        register_iris(registry)
        X, y = iris_data()
        model = LogisticRegression(max_iter=2000).fit(X, SPECIES[y])
        in_production(registry, registry.register(model, "species", eval_data=(X, SPECIES[y])))
        register_iris(registry, "ab")
        registry.record_stage("ab", register_iris(registry, "ab", C=0.05, stage="staging"), "challenger", weight=0.5)
    finally:
        storage.close()
    server = start_server(
        folder, home, ["--thrift-port", "0", "--max-body", str(MAX_BODY), "--max-rows", str(MAX_ROWS)]
    )
    yield server, _thrift_port(server)
    server.stop()


def _thrift_port(server: Server) -> int:
    found = _THRIFT_LINE.search(server.stdout.read_text())
    if found is None:
        server.stop()
        pytest.fail(f"no thrift line:\n{server.output()}")
    return int(found.group(1))


@pytest.fixture
def http(served: tuple[Server, int]) -> httpx.Client:
    return served[0].client


@pytest.fixture
def thrift(served: tuple[Server, int]) -> Iterator[tuple[Any, Any]]:
    with connect("127.0.0.1", served[1], timeout=30) as pair:
        yield pair


def _http_predict(http: httpx.Client, name: str, body: dict[str, Any]) -> httpx.Response:
    # NaN and Infinity as JSON's non-standard constants, which the server parses and then judges
    return http.post(
        f"/v1/models/{name}/predict", content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def _typed(values: list[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


@pytest.mark.parametrize("name", ["iris", "species"])
@pytest.mark.parametrize("key", ["instances", "records"])
def test_thrift_and_http_give_identical_answers(
    http: httpx.Client, thrift: tuple[Any, Any], name: str, key: str
) -> None:
    client, wb = thrift
    X, _ = iris_data()
    rows = X[::3][:MAX_ROWS].tolist()
    body: dict[str, Any] = {key: rows if key == "instances" else [dict(zip(_names(4), r, strict=True)) for r in rows]}
    expected = _http_predict(http, name, body).json()
    answer = client.predict(wb.PredictRequest(model=name, **body))
    assert (answer.model, answer.version, answer.arm) == (expected["model"], expected["version"], expected["arm"])
    assert _typed(predictions(answer)) == _typed(expected["predictions"])
    assert answer.probabilities == expected["probabilities"]
    assert len(set(answer.request_ids)) == len(rows)
    if name == "iris":
        assert predictions(answer) == fit_iris().predict(np.array(rows)).tolist()
    else:
        assert all(isinstance(p, str) for p in predictions(answer))


def test_a_routing_key_picks_the_same_arm_as_over_http(http: httpx.Client, thrift: tuple[Any, Any]) -> None:
    client, wb = thrift
    arms = set()
    for i in range(20):
        key = f"customer-{i}"
        expected = http.post("/v1/models/ab/predict", json={"instances": [ROW]}, headers={"x-routing-key": key}).json()
        answer = client.predict(wb.PredictRequest(model="ab", instances=[ROW], routing_key=key))
        assert (answer.arm, answer.version) == (expected["arm"], expected["version"])
        assert answer.arm == ("challenger" if key_share("ab", key) < 0.5 else "production")
        assert answer.probabilities == expected["probabilities"]
        arms.add(answer.arm)
    assert arms == {"production", "challenger"}


def _names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def test_models_lists_what_http_lists(http: httpx.Client, thrift: tuple[Any, Any]) -> None:
    client, _ = thrift
    listed = http.get("/v1/models").json()["models"]
    answered = client.models()
    assert [(m.name, m.version, m.stage) for m in answered] == [(m["name"], m["version"], m["stage"]) for m in listed]
    for info, expected in zip(answered, listed, strict=True):
        assert info.feature_names == expected["feature_names"] and info.n_features == expected["n_features"]
        assert _typed([label_value(c) for c in info.classes]) == _typed(expected["classes"])
        assert info.metrics == expected["metrics"]
        assert info.handles_missing_values is expected["handles_missing_values"]
        assert (info.created_at, info.engine) == (expected["created_at"], expected["engine"])


def test_an_unknown_model_is_a_typed_error_with_the_http_message(http: httpx.Client, thrift: tuple[Any, Any]) -> None:
    client, wb = thrift
    expected = _http_predict(http, "nope", {"instances": [ROW]})
    with pytest.raises(wb.UnknownModel) as raised:
        client.predict(wb.PredictRequest(model="nope", instances=[ROW]))
    assert expected.status_code == 404
    assert raised.value.message == expected.json()["message"] and "ab, iris, species" in raised.value.message
    with pytest.raises(wb.UnknownModel):
        client.feedback(wb.FeedbackRequest(model="nope", request_ids=["a"], labels=[wb.Label(integer=1)], token=TOKEN))


BAD_BODIES: dict[str, dict[str, Any]] = {
    "wrong feature count": {"instances": [[1.0, 2.0, 3.0]]},
    "ragged rows": {"instances": [ROW, [1.0, 2.0]]},
    "NaN": {"instances": [[math.nan, 3.0, 5.1, 1.8]]},
    "infinity": {"instances": [[math.inf, 3.0, 5.1, 1.8]]},
    "minus infinity": {"records": [{"x0": -math.inf, "x1": 3.0, "x2": 5.1, "x3": 1.8}]},
    "empty rows": {"instances": []},
    "too many rows": {"instances": [ROW] * (MAX_ROWS + 1)},
    "both instances and records": {"instances": [ROW], "records": [dict(zip(_names(4), ROW, strict=True))]},
    "neither instances nor records": {},
    "missing feature": {"records": [{"x0": 1.0, "x1": 2.0, "x2": 3.0}]},
    "unknown feature": {"records": [{"x0": 1.0, "x1": 2.0, "x2": 3.0, "x3": 4.0, "x9": 5.0}]},
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_input_is_refused_like_http(http: httpx.Client, thrift: tuple[Any, Any], case: str) -> None:
    client, wb = thrift
    body = BAD_BODIES[case]
    expected = _http_predict(http, "iris", body)
    assert 400 <= expected.status_code < 500
    with pytest.raises(wb.BadInput) as raised:
        client.predict(wb.PredictRequest(model="iris", **body))
    assert (raised.value.status, raised.value.message) == (expected.status_code, expected.json()["message"])
    assert raised.value.hint == expected.json()["hint"]
    # the refusal left the connection usable
    assert predictions(client.predict(wb.PredictRequest(model="iris", instances=[ROW]))) == [2]


def test_feedback_needs_the_token_and_shares_the_log_with_http(http: httpx.Client, thrift: tuple[Any, Any]) -> None:
    client, wb = thrift
    X, y = iris_data()
    answer = client.predict(wb.PredictRequest(model="iris", instances=X[:10].tolist()))
    ids = list(answer.request_ids)
    labels = [wb.Label(integer=int(t)) if i % 2 else wb.Label(text=str(t)) for i, t in enumerate(y[:10])]

    def feedback(token: str, request_ids: list[str], given: list[Any]) -> Any:
        return client.feedback(wb.FeedbackRequest(model="iris", request_ids=request_ids, labels=given, token=token))

    for token in ("", "nope", TOKEN + "x"):
        with pytest.raises(wb.Unauthorized) as refused:
            feedback(token, ids[:9], labels[:9])
        assert TOKEN not in f"{refused.value.message} {refused.value.hint}"
    with pytest.raises(wb.BadInput) as typo:
        feedback(TOKEN, ids[:1], [wb.Label(text="setosa")])
    assert typo.value.status == 422 and "classes are 0, 1, 2" in typo.value.message
    with pytest.raises(wb.BadInput, match="exactly one"):
        feedback(TOKEN, ids[:1], [wb.Label()])
    result = feedback(TOKEN, ids[:9], labels[:9])
    assert (result.accepted, result.unknown, result.duplicate) == (9, 0, 0)
    assert (feedback(TOKEN, ids[:1], labels[:1]).duplicate, feedback(TOKEN, ["unknown"], labels[:1]).unknown) == (1, 1)
    # the HTTP front end joins a Thrift prediction: one prediction log, one service
    by_http = http.post(
        "/v1/models/iris/feedback",
        json={"request_ids": ids[9:], "labels": [int(y[9])]},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert by_http.json() == {"accepted": 1, "unknown": 0, "duplicate": 0}


def _predict_count(http: httpx.Client) -> int:
    total = 0
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("workbench_requests_total{") and 'route="predict"' in line and 'model="iris"' in line:
            if 'status="200"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_thrift_requests_are_counted_with_http_ones(http: httpx.Client, thrift: tuple[Any, Any]) -> None:
    client, wb = thrift
    before = _predict_count(http)
    for _ in range(3):
        client.predict(wb.PredictRequest(model="iris", instances=[ROW]))
    assert _predict_count(http) == before + 3


def test_strings_and_containers_beyond_the_limits_are_refused(http: httpx.Client, thrift: tuple[Any, Any]) -> None:
    client, wb = thrift
    with pytest.raises(wb.BadInput) as long_name:
        client.predict(wb.PredictRequest(model="x" * (STRING_LENGTH_LIMIT + 1), instances=[ROW]))
    assert long_name.value.status == 413 and str(STRING_LENGTH_LIMIT) in long_name.value.message
    many = [wb.Label()] * (CONTAINER_LENGTH_LIMIT + 1)
    with pytest.raises(wb.BadInput) as long_list:
        client.feedback(wb.FeedbackRequest(model="iris", request_ids=["a"], labels=many, token=TOKEN))
    assert long_list.value.status == 413 and str(CONTAINER_LENGTH_LIMIT) in long_list.value.message
    # the same connection still answers
    assert predictions(client.predict(wb.PredictRequest(model="iris", instances=[ROW]))) == [2]


def test_a_frame_over_max_body_closes_only_that_connection(
    served: tuple[Server, int], http: httpx.Client, thrift: tuple[Any, Any]
) -> None:
    _, wb = thrift
    rows = [ROW] * (MAX_BODY // 32)
    with connect("127.0.0.1", served[1], timeout=30) as (doomed, _):
        with pytest.raises((TTransportException, OSError)):
            doomed.predict(wb.PredictRequest(model="iris", instances=rows))
    client, _ = thrift
    assert predictions(client.predict(wb.PredictRequest(model="iris", instances=[ROW]))) == [2]
    assert http.get("/healthz").status_code == 200


# --- raw clients: bytes no Thrift library would send ---


def _call(method: str, args: bytes, seqid: int = 7) -> bytes:
    """A framed strict-binary call of ``method`` whose argument struct is ``args`` (field bytes, then STOP)."""
    payload = struct.pack(">Ii", 0x80010001, len(method)) + method.encode() + struct.pack(">i", seqid) + args
    return struct.pack(">i", len(payload)) + payload


def _predict_args(request_fields: bytes) -> bytes:
    return b"\x0c\x00\x01" + request_fields + b"\x00" + b"\x00"


def _model_field(name: bytes, declared: int | None = None) -> bytes:
    return b"\x0b\x00\x01" + struct.pack(">i", len(name) if declared is None else declared) + name


def _reply(sock: socket.socket) -> bytes:
    header = _exactly(sock, 4)
    return _exactly(sock, struct.unpack(">i", header)[0])


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def _decoded_predict_reply(payload: bytes) -> Any:
    wb = load_idl()
    proto = TBinaryProtocol(TMemoryBuffer(payload))
    name, kind, seqid = proto.read_message_begin()
    assert (name, seqid) == ("predict", 7)
    if kind == TMessageType.EXCEPTION:
        error = TApplicationException()
        error.read(proto)
        return error
    result = wb.Predictor.predict_result()
    result.read(proto)
    return result


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _drain(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset, when it refused bytes unread, ends it too)."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


def _healthy(served: tuple[Server, int]) -> None:
    server, port = served
    assert server.process.poll() is None, server.output()
    assert server.client.get("/healthz").status_code == 200
    with connect("127.0.0.1", port, timeout=30) as (client, wb):
        assert predictions(client.predict(wb.PredictRequest(model="iris", instances=[ROW]))) == [2]


HUGE_DECLARED = {
    "string": _predict_args(_model_field(b"iris", declared=2**31 - 1)),
    "list": _predict_args(_model_field(b"iris") + b"\x0f\x00\x02\x0f" + struct.pack(">i", 2**31 - 1)),
    "map": _predict_args(
        _model_field(b"iris") + b"\x0f\x00\x03\x0d" + struct.pack(">i", 1) + b"\x0b\x04" + b"\x7f" * 4
    ),
    "negative length": _predict_args(_model_field(b"iris", declared=-5)),
}


@pytest.mark.parametrize("case", sorted(HUGE_DECLARED))
def test_huge_declared_lengths_are_refused_with_bounded_memory(served: tuple[Server, int], case: str) -> None:
    server, port = served
    rss = psutil.Process(server.process.pid).memory_info().rss
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_call("predict", HUGE_DECLARED[case]))
        result = _decoded_predict_reply(_reply(sock))
    assert result.bad_input is not None and result.bad_input.status in (400, 413), result
    assert psutil.Process(server.process.pid).memory_info().rss < rss + 50_000_000
    _healthy(served)


UNREADABLE = [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",  # reads as a frame of about 1.2 GB: refused unread
    struct.pack(">i", 2**31 - 1) + b"\x00" * 64,
    struct.pack(">i", -1),
    struct.pack(">i", 0),
    struct.pack(">i", 200) + bytes(range(200)),  # no Thrift header
    struct.pack(">i", 12) + struct.pack(">Ii", 0x80010004, 1) + b"x" + b"\x00\x00\x00",  # oneway: never declared
]
MALFORMED = {
    "unknown type": b"\x0c\x00\x01\x63\x00\x01\x00\x00",
    "truncated": b"\x0c\x00\x01",
    "bytes after the message": b"\x00" + b"\x00" * 8,
    "not UTF-8": _predict_args(_model_field(b"\xff\xfe")),
    "nested too deep": _predict_args(b"\x0c\x00\x09" * 40 + b"\x00" * 40),
}


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with suppress(OSError):  # the server may already have closed the connection
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        return _drain(sock)


def test_unreadable_bytes_close_only_their_connection(served: tuple[Server, int]) -> None:
    for data in UNREADABLE:
        assert _exchange(served[1], data) == b"", data
    _healthy(served)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_calls_get_bad_input(served: tuple[Server, int], case: str) -> None:
    answer = _exchange(served[1], _call("predict", MALFORMED[case]))
    result = _decoded_predict_reply(answer[4:])
    assert result.bad_input.status == 400, result
    assert b"Traceback" not in answer and TOKEN.encode() not in answer
    _healthy(served)


def test_an_unknown_method_is_an_application_error(served: tuple[Server, int]) -> None:
    payload = _exchange(served[1], _call("no_such_method", b"\x00"))[4:]
    proto = TBinaryProtocol(TMemoryBuffer(payload))
    assert proto.read_message_begin() == ("no_such_method", TMessageType.EXCEPTION, 7)
    error = TApplicationException()
    error.read(proto)
    assert error.type == TApplicationException.UNKNOWN_METHOD


def test_idle_and_half_sent_clients_do_not_block_others(served: tuple[Server, int]) -> None:
    _, port = served
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(20)]
    half = socket.create_connection(("127.0.0.1", port), timeout=30)
    half.sendall(struct.pack(">i", 1000) + b"\x80\x01")
    try:
        started = time.monotonic()
        _healthy(served)
        assert time.monotonic() - started < 5
    finally:
        for sock in [*idle, half]:
            sock.close()


def test_the_server_stops_cleanly_with_thrift_connections_open(tmp_path: Path, isolated_environment: Path) -> None:
    register_iris(default_registry())
    server = start_server(tmp_path, isolated_environment, ["--thrift-port", "0"])
    port = _thrift_port(server)
    idle = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        with connect("127.0.0.1", port) as (client, wb):
            client.predict(wb.PredictRequest(model="iris", instances=[ROW]))
            started = time.monotonic()
            server.stop()
        assert time.monotonic() - started < 10
        # uvicorn shuts down, then raises SIGTERM again to end the process the way it was asked to
        assert server.process.returncode == -signal.SIGTERM, server.output()
        assert _closed_by_server(idle)
    finally:
        idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert "Traceback" not in server.output()


# --- the server in this process: timeouts, connection cap, stop, the error mapping ---


@pytest.fixture
def service() -> Iterator[PredictionService]:
    register_iris(default_registry())
    factory = ModelFactory(default_registry())
    factory.load()
    service = PredictionService(factory, ServeConfig(token=TOKEN, reload_seconds=0))
    yield service
    service.close()


@pytest.fixture
def thrift_server(service: PredictionService) -> Iterator[ThriftServer]:
    server = ThriftServer(service, bind("127.0.0.1", 0), timeout=0.5, idle_timeout=0.5, max_connections=2)
    server.start()
    yield server
    server.stop()


def test_a_silent_client_is_dropped_after_the_timeout(thrift_server: ThriftServer) -> None:
    with socket.create_connection(("127.0.0.1", thrift_server.port), timeout=10) as sock:
        started = time.monotonic()
        assert _closed_by_server(sock)
        assert time.monotonic() - started < 5


def test_a_client_that_does_not_read_its_replies_is_dropped(thrift_server: ThriftServer) -> None:
    wb = load_idl()
    out = TMemoryBuffer()
    proto = TBinaryProtocol(out)
    proto.write_message_begin("predict", TMessageType.CALL, 1)
    wb.Predictor.predict_args(request=wb.PredictRequest(model="iris", instances=[ROW] * 1000)).write(proto)
    call = struct.pack(">i", len(out.getvalue())) + out.getvalue()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", thrift_server.port))
    refused: list[OSError] = []
    sender = threading.Thread(target=_send_until_closed, args=(sock, call, refused), daemon=True)
    sender.start()
    try:
        # ~100 KB of answer per call: the socket buffers fill, the server waits 0.5 s, then drops the client
        sender.join(timeout=30)
        assert not sender.is_alive() and refused, "the server kept the connection open"
    finally:
        sock.close()
    with connect("127.0.0.1", thrift_server.port, timeout=5) as (client, idl):
        assert predictions(client.predict(idl.PredictRequest(model="iris", instances=[ROW]))) == [2]


def _send_until_closed(sock: socket.socket, call: bytes, refused: list[OSError]) -> None:
    try:
        for _ in range(200):
            sock.sendall(call)
    except OSError as exc:
        refused.append(exc)


def test_connections_beyond_the_cap_are_closed_and_the_slot_comes_back(thrift_server: ThriftServer) -> None:
    first = socket.create_connection(("127.0.0.1", thrift_server.port), timeout=10)
    second = socket.create_connection(("127.0.0.1", thrift_server.port), timeout=10)
    try:
        with socket.create_connection(("127.0.0.1", thrift_server.port), timeout=10) as third:
            assert _closed_by_server(third)
    finally:
        first.close()
        second.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            with connect("127.0.0.1", thrift_server.port, timeout=5) as (client, wb):
                assert predictions(client.predict(wb.PredictRequest(model="iris", instances=[ROW]))) == [2]
            return
        except (TTransportException, OSError):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_stop_drops_open_connections_and_closes_the_port(service: PredictionService) -> None:
    server = ThriftServer(service, bind("127.0.0.1", 0), timeout=30)
    server.start()
    port = server.port
    with connect("127.0.0.1", port) as (client, wb):
        client.predict(wb.PredictRequest(model="iris", instances=[ROW]))
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        with pytest.raises((TTransportException, OSError)):
            client.predict(wb.PredictRequest(model="iris", instances=[ROW]))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_every_serving_error_maps_to_a_declared_exception(service: PredictionService) -> None:
    wb = load_idl()
    handler = PredictorHandler(service, wb)
    declared = (wb.UnknownModel, wb.BadInput, wb.Unauthorized)
    kinds = [c for c in vars(workbench.errors).values() if isinstance(c, type) and issubclass(c, ServingError)]
    assert len(kinds) >= 5
    for kind in kinds:
        with pytest.raises(declared) as raised, handler.refusals():
            raise kind("refused", hint="do this")
        assert (raised.value.message, raised.value.hint) == ("refused", "do this")
    with pytest.raises(wb.Unavailable) as unavailable, handler.refusals():
        raise StorageUnavailableError("redis at 10.0.0.5:6379 timed out")
    assert "10.0.0.5" not in unavailable.value.message
    with pytest.raises(wb.Unavailable), handler.refusals():
        raise WorkbenchError("anything else")
    with pytest.raises(TApplicationException) as internal, handler.refusals():
        raise RuntimeError("/secret/path")
    assert internal.value.type == TApplicationException.INTERNAL_ERROR and "/secret" not in str(internal.value)


def test_the_handler_answers_as_the_server_writes(service: PredictionService) -> None:
    """``PredictorHandler.predict`` (for any thriftpy2 server) and the server's own reply agree."""
    wb = load_idl()
    server = ThriftServer(service, bind("127.0.0.1", 0))
    try:
        request = wb.PredictRequest(model="iris", instances=[ROW, [5.1, 3.5, 1.4, 0.2]])
        assert predictions(server.handler.predict(request)) == [2, 0]
        answer = server.handler.predicted(request)
        proto = TBinaryProtocol(TMemoryBuffer(server.replies.reply(3, answer)))
        assert proto.read_message_begin() == ("predict", TMessageType.REPLY, 3)
        result = wb.Predictor.predict_result()
        result.read(proto)
        assert result.success == server.handler.response(answer)
    finally:
        server.sock.close()


def _frame_reader(args: bytes, limits: Limits) -> FrameReader:
    payload = _call("predict", args)[4:]
    reader = FrameReader(payload, limits)
    assert reader.message_begin() == ("predict", 7)
    return reader


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (_predict_args(_model_field(b"x" * 11)), "longer than this server's limit of 10"),
        (_predict_args(b"\x0f\x00\x02\x0f" + struct.pack(">i", 11)), "list of 11"),
        (_predict_args(b"\x0f\x00\x03\x0d" + struct.pack(">i", 1) + b"\x0b\x04" + struct.pack(">i", 11)), "map of 11"),
        (_predict_args(b"\x0f\x00\x02\x0f" + struct.pack(">i", 1) + b"\x04" + struct.pack(">i", 2)), "truncated"),
        (_predict_args(b"\x0c\x00\x09" * 8 + b"\x00" * 8), "deeper than 4"),
    ],
)
def test_the_frame_reader_checks_every_length(args: bytes, refusal: str) -> None:
    reader = _frame_reader(args, Limits(max_frame=1000, string_length=10, container_length=10, max_depth=4))
    with pytest.raises(ServingError, match=refusal):
        reader.message_body()


def test_the_frame_reader_accepts_what_the_client_sends() -> None:
    wb = load_idl()
    out = TMemoryBuffer()
    proto = TBinaryProtocol(out)
    proto.write_message_begin("predict", TMessageType.CALL, 3)
    request = wb.PredictRequest(model="iris", instances=[ROW] * 10, records=[{"x0": 1.0}], routing_key="k")
    wb.Predictor.predict_args(request=request).write(proto)
    proto.write_message_end()
    reader = FrameReader(out.getvalue(), Limits(max_frame=10_000, string_length=10, container_length=10))
    assert reader.message_begin() == ("predict", 3)
    reader.message_body()


def test_the_idl_ships_in_the_wheel() -> None:
    from hatchling.builders.wheel import WheelBuilder

    root = Path(__file__).resolve().parents[2]
    shipped = {f.distribution_path for f in WheelBuilder(str(root)).recurse_included_files()}
    assert IDL_PATH.relative_to(root).as_posix() in shipped
