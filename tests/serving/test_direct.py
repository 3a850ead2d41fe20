"""Predicts answered by the connection's protocol itself: the same answers, errors, headers, counts and log as ASGI.

A request to ``/v1/models/iris/predict?`` (an empty query) is answered by the ASGI route;
the same request without the ``?`` by the protocol (a spy on
:meth:`PredictEndpoint.answer_now` proves it), so each pair must look the same to a client.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.server_process import START_TIMEOUT
from tests.serving.conftest import TOKEN, fit_iris, iris_data
from tests.serving.test_corpus import CASES, GOOD, JSON
from workbench.registry.api import default_registry
from workbench.serving.app import PredictEndpoint, create_app
from workbench.serving.factory import ModelFactory
from workbench.serving.limits import ConnectionLimits
from workbench.serving.server import _settings
from workbench.serving.service import PredictionService, ServeConfig

PATH = "/v1/models/iris/predict"
MAX_BODY = 65536  # as the corpus's server
MAX_ROWS = 50


@dataclass
class Served:
    client: httpx.Client
    port: int
    endpoint: PredictEndpoint
    direct: list[int]  # one entry per predict the protocol answered


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """iris (LogisticRegression with its ONNX rendering, so it answers inline) behind the server's own settings."""
    registry = default_registry()
    number = registry.register(fit_iris(), "iris", eval_data=iris_data(), onnx=True).version
    registry.record_stage("iris", number, "production")
    factory = ModelFactory(registry)
    factory.load()
    config = ServeConfig(token=TOKEN, max_body=MAX_BODY, max_rows=MAX_ROWS, reload_seconds=0)
    endpoint = create_app(factory, config, PredictionService(factory, config))
    assert factory.route("iris").inline
    direct: list[int] = []
    answer_now = PredictEndpoint.answer_now

    def spy(self: PredictEndpoint, *args: Any) -> tuple[int, bytes]:
        direct.append(1)
        return answer_now(self, *args)

    monkeypatch.setattr(PredictEndpoint, "answer_now", spy)
    import uvicorn

    from workbench.listening import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(_settings(endpoint, ConnectionLimits(keep_alive_timeout=30)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        yield Served(client, port, endpoint, direct)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _seen(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    """Status, headers without the date, body (request ids replaced by their count: they are random)."""
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    body: Any = response.content
    if response.headers.get("content-type") == "application/json":
        body = response.json()
        if isinstance(body, dict) and "request_ids" in body:
            ids = body.pop("request_ids")
            assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
            body["n_ids"] = len(ids)
            if "content-length" in headers:
                headers["content-length"] = "same length"
    return response.status_code, headers, body


def test_the_protocol_answers_every_request_as_the_asgi_route(served: Served) -> None:
    cases = [(c.label, c.body, c.headers) for c in CASES if c.path == PATH and c.method == "POST"]
    valid = [
        {"instances": [GOOD]},
        {"instances": [GOOD, [6.3, 3.3, 6.0, 2.5], [1, 2, 3, 4]]},
        {"records": [{"x0": 5.0, "x1": 3.0, "x2": 1.5, "x3": 0.1}]},
        {"instances": [GOOD], "routing_key": "customer-7"},
    ]
    cases += [(f"valid {i}", json.dumps(v).encode(), JSON) for i, v in enumerate(valid)]
    cases += [
        ("routing key header", json.dumps(valid[0]).encode(), {**JSON, "x-routing-key": "k"}),
        ("text/plain", json.dumps(valid[0]).encode(), {"content-type": "text/plain"}),
        ("latin-1", json.dumps(valid[0]).encode(), {"content-type": "application/json; charset=latin-1"}),
        ("gzip", json.dumps(valid[0]).encode(), {**JSON, "content-encoding": "gzip"}),
        ("no content type", json.dumps(valid[0]).encode(), {}),
    ]
    differ = []
    for label, body, headers in cases:
        before = len(served.direct)
        direct = _seen(served.client.post(PATH, content=body, headers=headers))
        by_asgi = _seen(served.client.post(PATH + "?", content=body, headers=headers))
        if direct != by_asgi:
            differ.append(f"{label}: {direct} != {by_asgi}")
        assert len(served.direct) == before + (len(body) <= MAX_BODY), label  # the ASGI route refuses larger ones
    assert not differ, "\n".join(differ[:5])
    unknown = [served.client.post(f"/v1/models/nope/predict{query}", json=valid[0]) for query in ("", "?")]
    assert unknown[0].status_code == 404 and _seen(unknown[0])[1:] == _seen(unknown[1])[1:]
    assert served.client.get("/healthz").json()["status"] == "ok"


def _exchange(port: int, data: bytes, answers: int) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Send ``data`` at once on a new connection and read ``answers`` responses (head line, headers, body)."""
    found = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        buffer = b""
        while len(found) < answers:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                assert chunk, f"connection closed after {len(found)} answers"
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            status, *lines = head.split(b"\r\n")
            headers = dict(line.split(b": ", 1) for line in lines)
            length = int(headers[b"content-length"])
            while len(buffer) < length:
                buffer += conn.recv(65536)
            found.append((status, headers, buffer[:length]))
            buffer = buffer[length:]
        if answers and headers.get(b"connection") != b"close":
            conn.sendall(_request(b"GET", b"/healthz", b""))  # kept alive: still answers
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
    return found


def _request(method: bytes, path: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"%s %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
        % (method, path, len(body), extra, body)
    )


def test_pipelined_requests_are_answered_in_order_on_a_kept_alive_connection(served: Served) -> None:
    rows = [GOOD, [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 4.2, 1.5]]
    predicts = [_request(b"POST", PATH.encode(), json.dumps({"instances": [row]}).encode()) for row in rows]
    health = _request(b"GET", b"/healthz", b"")
    bad = _request(b"POST", PATH.encode(), b'{"instances": [[1, 2]]}')
    # predicts answered by the protocol, then one queued behind a request the app is still answering
    data = predicts[0] + predicts[1] + bad + health + predicts[2]
    answers = _exchange(served.port, data, 5)
    assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 2 + [b"HTTP/1.1 422 Unprocessable Entity"] + [
        b"HTTP/1.1 200 OK"
    ] * 2
    bodies = [json.loads(a[2]) for a in answers]
    assert [b["predictions"] for b in (bodies[0], bodies[1], bodies[4])] == [[0], [2], [1]]
    assert "2 values" in bodies[2]["message"] and bodies[3]["status"] == "ok"
    assert all(a[1][b"server"] == b"uvicorn" and b"date" in a[1] for a in answers)
    # a body sent in pieces, and a request split inside its head
    whole = predicts[0]
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn:
        for piece in (whole[:20], whole[20:-10], whole[-10:]):
            conn.sendall(piece)
            time.sleep(0.01)  # not synchronisation: only makes the pieces arrive apart
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_connection_close_http_1_0_and_expect_go_through_the_app(served: Served) -> None:
    body = json.dumps({"instances": [GOOD]}).encode()
    before = len(served.direct)
    closing = _exchange(served.port, _request(b"POST", PATH.encode(), body, b"connection: close\r\n"), 1)
    assert closing[0][0] == b"HTTP/1.1 200 OK" and closing[0][1][b"connection"] == b"close"
    old = _request(b"POST", PATH.encode(), body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    assert _exchange(served.port, old, 1)[0][1][b"connection"] == b"close"
    expect = served.client.post(PATH, content=body, headers={**JSON, "expect": "100-continue"})
    assert expect.status_code == 200 and expect.json()["predictions"] == [0]
    assert len(served.direct) == before


def test_predictions_answered_by_the_protocol_are_logged_and_counted(served: Served) -> None:
    ids = []
    for row in iris_data()[0][::15]:
        answer = served.client.post(PATH, json={"instances": [row.tolist()]}).json()
        ids += answer["request_ids"]
    assert len(served.direct) == len(ids) == 10
    feedback = served.client.post(
        "/v1/models/iris/feedback",
        json={"request_ids": ids, "labels": [0] * len(ids)},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert feedback.json() == {"accepted": 10, "unknown": 0, "duplicate": 0}
    served.client.post(PATH, json={"instances": [[1.0]]})
    metrics = served.client.get("/metrics").text
    assert 'workbench_requests_total{route="predict",model="iris",version="1",status="200"} 10' in metrics
    assert 'workbench_requests_total{route="predict",model="iris",version="1",status="422"} 1' in metrics
    assert 'workbench_predict_seconds_count{model="iris",version="1"} 10' in metrics
    assert "workbench_predlog_written_total 10" in metrics


def test_an_unexpected_error_is_a_json_500_and_a_log_line(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an engine failed")

    with monkeypatch.context() as patched, caplog.at_level(logging.ERROR, logger="workbench.serving"):
        patched.setattr(served.endpoint.service, "predict", broken)
        direct = _seen(served.client.post(PATH, json={"instances": [GOOD]}))
        by_asgi = _seen(served.client.post(PATH + "?", json={"instances": [GOOD]}))
    assert direct == by_asgi and direct[0] == 500
    assert set(direct[2]) == {"error", "message", "hint"} and "an engine failed" not in str(direct[2])
    failures = [r for r in caplog.records if r.exc_info and "an engine failed" in str(r.exc_info[1])]
    assert len(failures) == 2
    assert served.client.post(PATH, json={"instances": [GOOD]}).status_code == 200


def test_a_client_leaving_mid_body_is_counted_and_logged_as_by_the_app(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="workbench.serving"):
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn:
            conn.sendall(_request(b"POST", PATH.encode(), b'{"instances": [[1, 2, 3, 4]]}')[:-10])
        deadline = time.monotonic() + 30
        wanted = 'workbench_requests_total{route="predict",model="iris",version="1",status="400"} 1'
        while wanted not in served.client.get("/metrics").text:
            assert time.monotonic() < deadline, "the abandoned request was not counted"
            time.sleep(0.05)
    assert any("left before sending the whole body" in r.getMessage() for r in caplog.records)
    assert served.client.post(PATH, json={"instances": [GOOD]}).status_code == 200
