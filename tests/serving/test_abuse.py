"""Faults and abuse against a real ``workbench serve``: parse-level garbage, encodings, huge or slow headers
and bodies, clients that leave, connection floods. Every answer is a 4xx (or a close), never a 5xx,
and valid clients keep being answered."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TClient
from thriftpy2.transport import TFramedTransport, TMemoryBuffer, TSocket

from tests.serving.conftest import TOKEN, Server, register_iris, start_server
from workbench.config import load_settings
from workbench.errors import ConfigError
from workbench.registry.api import Registry
from workbench.serving.inputs import NOT_TEXT
from workbench.serving.limits import ConnectionLimits
from workbench.serving.thrift_server import load_idl
from workbench.storage import open_storage

ROOT = Path(__file__).resolve().parents[2]
ROW = [5.1, 3.5, 1.4, 0.2]
BODY = json.dumps({"instances": [ROW]}).encode()
TIMEOUT = 1.0  # the header, body and keep-alive timeouts of the server below
PER_CLIENT = 4  # its Thrift connections per client address


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """A server with 1 s timeouts (flags) and Thrift limits from ``[tool.workbench.serving]``."""
    folder = tmp_path_factory.mktemp("abuse")
    (folder / "pyproject.toml").write_text(
        f"[tool.workbench.serving]\nthrift_max_connections_per_client = {PER_CLIENT}\nthrift_idle_timeout = 1\n"
    )
    home = folder / "wbhome"
    storage = open_storage(load_settings(home=home, cwd=folder, environ={}), url="local")
    try:
        register_iris(Registry(storage.models))
    finally:
        storage.close()
    timeouts = ["--header-timeout", "1", "--body-timeout", "1", "--keep-alive-timeout", "1"]
    server = start_server(folder, home, ["--thrift-port", "0", "--max-body", "65536", *timeouts])
    port = int(server.stdout.read_text().split("thrift on 127.0.0.1:", 1)[1].split()[0])
    yield server, port
    server.stop()


@pytest.fixture
def server(served: tuple[Server, int]) -> Server:
    return served[0]


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def exchange(server: Server, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (or ``timeout``)."""
    with socket.create_connection(_address(server), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server refused and closed before reading everything
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def error_of(answer: bytes) -> dict[str, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    found = json.loads(body)
    assert set(found) == {"error", "message", "hint"}
    return dict(found)


def healthy(server: Server) -> float:
    """Seconds /healthz took on a new connection (it must answer 200)."""
    started = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
    return time.monotonic() - started


def request(
    body: bytes = BODY,
    *,
    path: str = "/v1/models/iris/predict",
    headers: str = "",
    content_type: str = "application/json",
    length: int | None = None,
) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nConnection: close\r\n{headers}"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    ).encode() + body


GARBAGE = {
    "binary": b"\x00\x01\x02\xff\r\n\r\n",
    "HTTP/9.9": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    "Content-Length not a number": b"POST /v1/models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "two Content-Lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "Content-Length and chunked": (
        b"POST /v1/models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"
    ),
    "bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "header without colon": b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
    "space before colon": b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "NUL in a header": b"GET /healthz HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    "bare LF": b"GET /healthz HTTP/1.1\nHost: x\n\n",
    "folded header": b"GET /healthz HTTP/1.1\r\nHost: x\r\n y\r\n\r\n",
    "method not a token": b"G\xffT / HTTP/1.1\r\n\r\n",
    "non-ASCII path": b"GET /v1/models/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    "TLS hello": bytes.fromhex("16030100a5010000a10303") + bytes(100),
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "a Thrift frame": b"\x00\x00\x00\x10\x80\x01\x00\x01" + bytes(12),
    "CONNECT": b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
}


def test_parse_level_garbage_gets_a_json_400_and_a_close(server: Server) -> None:
    failures = []
    for label, data in GARBAGE.items():
        answer = exchange(server, data)
        if status_of(answer) != 400 or error_of(answer)["message"] != "the request is not valid HTTP/1.1":
            failures.append(f"{label}: {answer[:300]!r}")
    assert not failures, "\n".join(failures)
    assert healthy(server) < 5


def test_an_upgrade_request_is_answered_as_plain_http(server: Server) -> None:
    for upgrade in (b"websocket", b"h2c"):
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: " + upgrade + b"\r\n\r\n"
        assert status_of(exchange(server, head)) == 200
    assert "Unsupported upgrade" not in server.output()


@pytest.mark.parametrize(
    ("content_type", "headers", "refusal"),
    [
        ("application/json; charset=utf-16", "", "not charset=utf-16"),
        ('application/json; charset="latin-1"', "", "not charset=latin-1"),
        ("application/json", "Content-Encoding: gzip\r\n", "Content-Encoding: gzip"),
        ("application/json", "Content-Encoding: deflate, gzip\r\n", "Content-Encoding: deflate, gzip"),
    ],
)
def test_other_charsets_and_compressed_bodies_are_415(
    server: Server, content_type: str, headers: str, refusal: str
) -> None:
    answer = exchange(server, request(content_type=content_type, headers=headers))
    assert status_of(answer) == 415, answer
    assert refusal in error_of(answer)["message"]


def test_explicit_utf8_is_accepted(server: Server) -> None:
    assert status_of(exchange(server, request(content_type="application/json; charset=UTF-8"))) == 200


@pytest.mark.parametrize(
    "body",
    [
        "\ufeff".encode() + BODY,  # a byte-order mark
        json.dumps({"instances": [ROW]}).encode("utf-16"),
        b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "routing_key": "\xe9"}',  # Latin-1, not UTF-8
        b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "routing_key": "\xed\xa0\x80"}',  # a surrogate as raw bytes
    ],
)
def test_bytes_that_are_not_utf8_json_are_400_without_internal_names(server: Server, body: bytes) -> None:
    answer = exchange(server, request(body))
    assert status_of(answer) == 400
    message = error_of(answer)["message"]
    assert "Error" not in message and "(" not in message.split(":")[0], message


def test_deep_nesting_is_refused_in_user_terms(server: Server) -> None:
    answer = exchange(server, request(b"[" * 60000))
    assert status_of(answer) == 400 and "RecursionError" not in error_of(answer)["message"]


def _thrift_feedback_with_raw_id(port: int, raw_id: bytes) -> Any:
    """``feedback`` whose only request id is ``raw_id`` as sent on the wire (no client would encode a surrogate)."""
    idl = load_idl()
    out = TMemoryBuffer()
    proto = TBinaryProtocol(out)
    proto.write_message_begin("feedback", 1, 5)
    request = idl.FeedbackRequest(model="iris", request_ids=["PLACEHOLDER"], labels=[idl.Label(integer=0)], token=TOKEN)
    idl.Predictor.feedback_args(request=request).write(proto)
    proto.write_message_end()
    payload = out.getvalue().replace(struct.pack(">i", 11) + b"PLACEHOLDER", struct.pack(">i", len(raw_id)) + raw_id)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", _exactly(sock, 4))[0]
        reply = TBinaryProtocol(TMemoryBuffer(_exactly(sock, size)))
    reply.read_message_begin()
    result = idl.Predictor.feedback_result()
    result.read(reply)
    return result


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def test_a_lone_surrogate_in_feedback_is_the_same_400_over_http_and_thrift(served: tuple[Server, int]) -> None:
    server, port = served
    body = json.dumps({"request_ids": ["\ud800"], "labels": [0]}).encode()
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    answer = exchange(server, request(body, path="/v1/models/iris/feedback", headers=auth))
    assert status_of(answer) == 400
    http_error = error_of(answer)
    assert http_error["message"] == NOT_TEXT
    thrift = _thrift_feedback_with_raw_id(port, "\ud800".encode("utf-8", "surrogatepass")).bad_input
    assert (thrift.status, thrift.message, thrift.hint) == (400, http_error["message"], http_error["hint"])
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("method", ["predict", "feedback"])
def test_a_thrift_call_without_its_request_is_bad_input(served: tuple[Server, int], method: str) -> None:
    _, port = served
    idl = load_idl()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        client = TClient(idl.Predictor, TBinaryProtocol(TFramedTransport(TSocket(sock=sock, socket_timeout=10_000))))
        with pytest.raises(idl.BadInput) as refused:
            getattr(client, method)(None)
    assert refused.value.status == 400 and "no request" in refused.value.message


def test_headers_over_the_size_or_count_limit_are_431(server: Server) -> None:
    big = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert status_of(big) == 431 and "65536 bytes" in error_of(big)["message"]
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(101))
    counted = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status_of(counted) == 431 and "more than 100 headers" in error_of(counted)["message"]
    url = exchange(server, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(url) == 431
    at_limit = b"".join(b"X-%d: 1\r\n" % i for i in range(98))
    data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + at_limit + b"\r\n"
    assert status_of(exchange(server, data)) == 200


def test_a_64_mib_header_neither_stalls_the_server_nor_grows_it(server: Server) -> None:
    import psutil

    rss = psutil.Process(server.process.pid).memory_info().rss
    sent = threading.Event()

    def huge() -> None:
        with socket.create_connection(_address(server), timeout=30) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
                chunk = b"a" * (1 << 20)
                for _ in range(64):
                    sock.sendall(chunk)
            except OSError:
                pass  # refused and closed at 64 KiB
            sent.set()

    thread = threading.Thread(target=huge)
    thread.start()
    worst = max(healthy(server) for _ in range(20))
    thread.join(timeout=60)
    assert sent.is_set()
    assert worst < 1.0
    assert psutil.Process(server.process.pid).memory_info().rss < rss + 20_000_000


def test_slow_headers_and_bodies_get_408_and_a_close(server: Server) -> None:
    started = time.monotonic()
    head = exchange(server, b"POST /v1/models/iris/predict HTTP/1.1\r\nHost: x\r\n")
    assert status_of(head) == 408 and "headers did not arrive within 1 s" in error_of(head)["message"]
    body = exchange(server, request(length=1000))
    assert status_of(body) == 408 and "body did not arrive within 1 s" in error_of(body)["message"]
    assert time.monotonic() - started < 2 * TIMEOUT + 4


def test_a_header_dribbled_a_byte_at_a_time_is_cut_off(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        answer = b""
        while time.monotonic() - started < 10:
            try:
                sock.sendall(b"X: 1\r\n")
            except OSError:
                break
            sock.settimeout(0.2)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:  # the server closed on bytes still arriving, after its answer
                break
            if not chunk:
                break
            answer += chunk
    assert status_of(answer) == 408
    assert time.monotonic() - started < TIMEOUT + 3


def test_idle_connections_are_closed_before_and_between_requests(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=10) as silent:
        started = time.monotonic()
        assert silent.recv(1) == b""
        assert time.monotonic() - started < TIMEOUT + 3
    with socket.create_connection(_address(server), timeout=10) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # the head and the JSON body may come in two writes
            answer += kept.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert kept.recv(1) == b""
        assert time.monotonic() - started < TIMEOUT + 3


def test_a_client_leaving_mid_body_is_one_log_line(server: Server) -> None:
    before = server.stderr.read_text()
    for _ in range(5):
        with socket.create_connection(_address(server), timeout=10) as sock:
            sock.sendall(request(length=900))
    deadline = time.monotonic() + 10
    while server.stderr.read_text()[len(before) :].count("left before sending the whole body") < 5:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    added = server.stderr.read_text()[len(before) :].splitlines()
    assert added and all("left before sending the whole body" in line for line in added), added


def _thrift_client(port: int, source: str) -> tuple[socket.socket, Any, Any]:
    idl = load_idl()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    client = TClient(idl.Predictor, TBinaryProtocol(TFramedTransport(TSocket(sock=sock, socket_timeout=10_000))))
    return sock, client, idl


def _closed_at_once(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_thrift_connections_are_capped_per_client_address(served: tuple[Server, int]) -> None:
    _, port = served
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(PER_CLIENT)]
    try:
        # wait until the server has counted them all (it accepts in its own thread)
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert _closed_at_once(extra)
        extra.close()
        sock, client, idl = _thrift_client(port, "127.0.0.2")  # another client is not locked out
        with sock:
            answer = client.predict(idl.PredictRequest(model="iris", instances=[ROW]))
            assert answer.version == 1
        # the silent ones are closed after the short idle timeout (1 s here), not the 30 s frame timeout
        started = time.monotonic()
        for sock in held:
            sock.settimeout(10)
            assert sock.recv(1) == b""
        assert time.monotonic() - started < TIMEOUT + 3
    finally:
        for sock in held:
            sock.close()


def test_floods_of_slow_connections_and_a_64_mib_header_leave_valid_requests_answered() -> None:
    """The short form of bench/serving_abuse.py (2,000 slow connections there)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "serving_abuse.py"), "--slow", "400", "--seconds", "6", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["valid_requests_during"] > 50, result
    assert result["failed_or_5xx"] == 0, result["statuses"]
    assert result["stalls_over_1s"] == 0, result["latency_ms"]
    assert result["rss_growth_mb"] < 50, result
    assert result["server_alive"] and result["server_tracebacks"] == 0, result
    attacker = result["attacker"]
    assert attacker["slow connections opened"] >= 400 and attacker.get("huge headers started", 0) >= 1, attacker


def test_limits_come_from_flags_then_pyproject_then_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.workbench.serving]\nmax_headers = 7\nheader_timeout = 2.5\n")
    settings = load_settings(cwd=tmp_path, environ={})
    limits = ConnectionLimits.resolve(settings, header_timeout=4, body_timeout=None)
    assert (limits.max_headers, limits.header_timeout, limits.body_timeout) == (7, 4, 30.0)
    for bad in ({"max_headers": 0}, {"header_timeout": -1}, {"max_header_bytes": 1.5}, {"body_timeout": True}):
        with pytest.raises(ConfigError):
            ConnectionLimits(**bad)  # type: ignore[arg-type]
    (tmp_path / "pyproject.toml").write_text('[tool.workbench.serving]\nkeep_alive_timeout = "soon"\n')
    with pytest.raises(ConfigError, match="keep_alive_timeout"):
        ConnectionLimits.resolve(load_settings(cwd=tmp_path, environ={}))


def test_an_invalid_limit_in_pyproject_stops_serve_with_a_clear_error(
    tmp_path: Path, isolated_environment: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench import cli
    from workbench.registry.api import default_registry

    register_iris(default_registry())
    (tmp_path / "pyproject.toml").write_text("[tool.workbench.serving]\nmax_headers = 0\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["serve", "--port", "0"]) == 1
    assert "max_headers must be positive" in capsys.readouterr().err
