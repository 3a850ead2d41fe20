"""Hostile and malformed requests against a real server: every one a 4xx with a clean body, never a 5xx."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.serving.conftest import TOKEN, Server

GOOD = [5.1, 3.5, 1.4, 0.2]
JSON = {"content-type": "application/json"}
AUTH = {**JSON, "authorization": f"Bearer {TOKEN}"}
MAX_BODY = 65536  # the shared server's --max-body
MAX_ROWS = 50  # and --max-rows


@dataclass
class Case:
    label: str
    body: bytes
    path: str = "/v1/models/iris/predict"
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    method: str = "POST"


def _raw(label: str, text: str, **kw: object) -> Case:
    return Case(label, text.encode(), **kw)  # type: ignore[arg-type]


def _json(label: str, value: object, **kw: object) -> Case:
    return Case(label, json.dumps(value).encode(), **kw)  # type: ignore[arg-type]


def corpus() -> Iterator[Case]:
    valid = json.dumps({"instances": [GOOD, GOOD]})
    for cut in range(len(valid)):
        yield _raw(f"truncated instances at {cut}", valid[:cut])
    valid_records = json.dumps({"records": [dict(zip(["x0", "x1", "x2", "x3"], GOOD, strict=True))]})
    for cut in range(len(valid_records)):
        yield _raw(f"truncated records at {cut}", valid_records[:cut])
    for top in ([], "x", 1, None, True, {}, [GOOD], {"instance": [GOOD]}, {"instances": [GOOD], "extra": 1}):
        yield _json(f"top-level {top!r}", top)
    yield _json("both keys", {"instances": [GOOD], "records": [{}]})
    for key in ("instances", "records"):
        for value in (None, "a", 1, {}, True, [], [[]], [None], ["row"], [1, 2, 3, 4], [[GOOD]]):
            yield _json(f"{key} = {value!r}", {key: value})
    bad_values = ["1", True, False, None, [], {}, [1.0], {"v": 1}, "NaN"]
    for position in range(4):
        for value in bad_values:
            row: list[object] = list(GOOD)
            row[position] = value
            yield _json(f"instances value {value!r} at {position}", {"instances": [row]})
        for constant in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 400):
            cells = [str(v) for v in GOOD]
            cells[position] = constant
            yield _raw(f"instances {constant[:8]} at {position}", '{"instances": [[' + ", ".join(cells) + "]]}")
    for width in (0, 1, 2, 3, 5, 10, 100):
        yield _json(f"rows of {width}", {"instances": [[1.0] * width]})
    yield _json("ragged short second", {"instances": [GOOD, GOOD[:3]]})
    yield _json("ragged long second", {"instances": [GOOD, [*GOOD, 1.0]]})
    yield _json("ragged last of many", {"instances": [GOOD] * 10 + [GOOD[:2]]})
    names = ["x0", "x1", "x2", "x3"]
    for missing in names:
        yield _json(f"record without {missing}", {"records": [{n: 1.0 for n in names if n != missing}]})
        yield _json(f"record {missing} as text", {"records": [{n: ("a" if n == missing else 1.0) for n in names}]})
        yield _json(f"record {missing} null", {"records": [{n: (None if n == missing else 1.0) for n in names}]})
    for extra in ("x4", "", "../x", "X0", "x0 ", "\u0000", "<script>"):
        yield _json(f"record with extra {extra!r}", {"records": [{**{n: 1.0 for n in names}, extra: 1.0}]})
    yield _json("record of wrong names", {"records": [{"a": 1, "b": 2, "c": 3, "d": 4}]})
    yield _json("records as a list of lists", {"records": [GOOD]})
    yield _json("instances as a list of records", {"instances": [{"x0": 1.0}]})
    yield _json("too many rows", {"instances": [GOOD] * (MAX_ROWS + 1)})
    yield _json("far too many rows", {"instances": [[0, 0, 0, 0]] * 5000})
    yield _raw("oversized body", '{"instances": [' + ", ".join(["[1,2,3,4]"] * 8000) + "]}")
    yield _raw("deep nesting", "[" * 60000)
    yield _raw("deep nesting in instances", '{"instances": ' + "[" * 30000 + "]" * 30000 + "}")
    for raw in (b"\xff\xfe{}", b"\x00", b'{"instances": [[1,2,3,4]]}\x00', b"\xef\xbb\xbf{}", b'{"a":1}{"b":2}'):
        yield Case(f"bytes {raw[:8]!r}", raw)
    yield _raw("empty body", "")
    yield _raw("whitespace body", "   \n ")
    yield _raw("duplicate keys", '{"instances": [[1,2,3,4]], "instances": 5}')
    yield _raw("single quotes", "{'instances': [[1,2,3,4]]}")
    yield _raw("trailing comma", '{"instances": [[1,2,3,4],]}')
    yield _raw("comment", '{"instances": [[1,2,3,4]] /* x */}')
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "application/python-pickle",
        "application/x-python-serialize",
        "multipart/form-data; boundary=x",
        "",
    ):
        pickle_like = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."
        yield Case(f"content-type {content_type!r}", pickle_like, headers={"content-type": content_type})
        yield Case(
            f"content-type {content_type!r} with JSON",
            json.dumps({"instances": [GOOD]}).encode(),
            headers={"content-type": content_type},
        )
    for name in ("nope", "IRIS", "iris ", "..", "%2e%2e", "iris%00", "a" * 300, "%F0%9F%92%A5", "iris;drop", "-"):
        yield _json(f"model {name[:12]!r}", {"instances": [GOOD]}, path=f"/v1/models/{name}/predict")
        yield _json(f"model {name[:12]!r} info", None, path=f"/v1/models/{name}", method="GET")
    for path, method in (
        ("/v1/models/iris/predict", "GET"),
        ("/v1/models/iris/predict", "PUT"),
        ("/v1/models", "POST"),
        ("/v1/nothing", "GET"),
        ("/v2/models/iris/predict", "POST"),
    ):
        yield _json(f"{method} {path}", {"instances": [GOOD]}, path=path, method=method)
    feedback = "/v1/models/iris/feedback"
    yield _json("feedback without token", {"request_ids": ["a"], "labels": [0]}, path=feedback)
    for header in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer", f"bearer{TOKEN}"):
        yield _json(
            f"feedback with authorization {header[:10]!r}",
            {"request_ids": ["a"], "labels": [0]},
            path=feedback,
            headers={**JSON, "authorization": header},
        )
    for body in (
        {},
        {"request_ids": ["a"]},
        {"labels": [0]},
        {"request_ids": "a", "labels": 0},
        {"request_ids": ["a", "b"], "labels": [0]},
        {"request_ids": [], "labels": []},
        {"request_ids": [1], "labels": [0]},
        {"request_ids": ["a" * 65], "labels": [0]},
        {"request_ids": ["a"], "labels": [None]},
        {"request_ids": ["a"], "labels": [[0]]},
        {"request_ids": ["a"], "labels": [True]},
        {"request_ids": ["a"] * 51, "labels": [0] * 51},
        {"request_ids": ["a"], "labels": [0], "x": 1},
        [],
        "feedback",
    ):
        yield _json(f"feedback body {json.dumps(body)[:30]}", body, path=feedback, headers=dict(AUTH))
    yield _raw("feedback truncated", '{"request_ids": ["a"], "labels": [', path=feedback, headers=dict(AUTH))
    yield _json(
        "feedback unknown model",
        {"request_ids": ["a"], "labels": [0]},
        path="/v1/models/nope/feedback",
        headers=dict(AUTH),
    )


CASES = list(corpus())
LEAKS = ("Traceback", 'File "', "site-packages", "/tmp", "wbhome", TOKEN)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 300


def test_every_malformed_request_is_a_clean_4xx(shared_server: Server) -> None:
    failures = []
    for case in CASES:
        response = shared_server.client.request(case.method, case.path, content=case.body, headers=case.headers)
        text = response.text
        if not 400 <= response.status_code < 500:
            failures.append(f"{case.label}: {response.status_code} {text[:200]}")
        elif any(leak in text for leak in LEAKS):
            failures.append(f"{case.label}: leaks in {text[:300]}")
        elif response.headers.get("content-type", "").startswith("application/json"):
            assert set(response.json()) == {"error", "message", "hint"}, case.label
        else:
            failures.append(f"{case.label}: not a JSON error body: {text[:200]}")
    assert not failures, "\n".join(failures)
    assert shared_server.client.get("/healthz").json()["status"] == "ok"
    answer = shared_server.client.post("/v1/models/iris/predict", json={"instances": [GOOD]})
    assert answer.status_code == 200
    assert answer.json()["predictions"] == [0]


def test_huge_declared_body_is_refused_before_it_is_sent(shared_server: Server) -> None:
    """A Content-Length of 10 GB is answered 413 at once: the server does not wait for the body."""
    address = urlsplit(shared_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        head = conn.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:100]


def test_streamed_body_over_the_limit_is_refused(shared_server: Server) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused at the chunk crossing the limit."""

    def chunks() -> Iterator[bytes]:
        # the crossing chunk comes last, so the server has read all but the terminator when it refuses
        yield b'{"instances": ['
        for _ in range(8):
            yield b"[1,2,3,4]," * 800
        yield b"[1,2,3,4]," * 200

    response = shared_server.client.post("/v1/models/iris/predict", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["message"]


def test_refusals_name_the_expected_shape(shared_server: Server) -> None:
    short = shared_server.client.post("/v1/models/iris/predict", json={"instances": [[1.0, 2.0]]}).json()
    assert "2 values" in short["message"] and "4 numbers (x0, x1, x2, x3)" in short["message"]
    names = shared_server.client.post("/v1/models/iris/predict", json={"records": [{"a": 1.0}]}).json()
    assert "x0, x1, x2, x3" in names["message"]
    unknown = shared_server.client.post("/v1/models/nope/predict", json={"instances": [GOOD]})
    assert unknown.status_code == 404 and "served models: iris" in unknown.json()["message"]
    nan = shared_server.client.post("/v1/models/iris/predict", content=b'{"instances": [[NaN, 1, 2, 3]]}', headers=JSON)
    assert nan.status_code == 422 and "missing values" in nan.json()["message"]


def test_metrics_count_refusals_without_request_supplied_labels(shared_server: Server) -> None:
    shared_server.client.post("/v1/models/attacker-chosen-name/predict", json={"instances": [GOOD]})
    text = shared_server.client.get("/metrics").text
    assert "attacker-chosen-name" not in text
    assert 'workbench_errors_total{model="",version="",kind="ModelNotServedError"}' in text
    assert text.endswith("\n")
