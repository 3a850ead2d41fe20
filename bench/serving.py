"""Serving throughput and latency: workbench HTTP and Thrift against ``mlflow models serve``, same run.

For a LogisticRegression (scaled, in a pipeline) and a RandomForest(100) on breast cancer
(30 features), each registered in production with its ONNX rendering in a throwaway
workbench home and logged with ``mlflow.sklearn.log_model`` in a throwaway tracking store,
it starts, on loopback:

- the floor: a bare ASGI app on the same uvicorn/httptools/uvloop stack, socket and settings,
  that reads the same body, parses it with orjson and writes a fixed answer of the size of
  workbench's (``--serve-floor``),
- ``workbench serve --thrift-port 0`` (one process: HTTP and Thrift),
- the same with the prediction log off (its per-request entry, ``LogWriter.add_answer``, replaced by a
  no-op in the server process: a benchmark-only switch, to price the log),
- ``workbench serve --workers 2`` (measured at concurrency 16 only),
- ``mlflow models serve --env-manager local`` for each model (when mlflow is installed:
  it is not a workbench dependency), twice: as ``pip install mlflow`` sets it up (uvicorn
  on h11 and asyncio) and with the uvloop and httptools this environment has,

and drives each from a load generator in a *separate* process: ``wrk`` for HTTP when it is
installed (else Python threads with keep-alive httpx clients); for Thrift, as wrk does for
HTTP, one thread sending a call encoded once (by the shipped client's protocol) on every
connection and checking each reply without decoding it (``thrift_load``). Single-row and
100-row requests, concurrency 1 and 16,
every answer must be a success. Rounds are interleaved (every method once per round, then
the next round) and the median round is reported. The floors are ``predict_proba`` in
process (scikit-learn, and the ONNX rendering through onnxruntime) on the same rows.

Reports requests/s, p50 and p99, the generator's own CPU (share of one core: near 1.0
means the generator, not the server, is the limit), the share of the floor's requests/s and
the p50 above the floor's at the same row count and concurrency, the ratio to MLflow at the
same concurrency, and the time from starting each server to its first answer. Writes
bench/results/serving.json and prints Markdown tables and the goal verdicts.

Usage: python bench/serving.py [--seconds 3] [--rounds 3] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "serving.json"
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
_THRIFT = re.compile(r"thrift on 127\.0\.0\.1:(\d+)")
MODELS = ("logreg", "forest")
ROWS = (1, 100)
CONCURRENCY = (1, 16)
FLOOR = "floor: bare ASGI app"
WB, WB2, THRIFT = "workbench HTTP", "workbench HTTP, 2 workers", "workbench Thrift"
WB_NOLOG = "workbench HTTP, log off"
MLFLOW, MLFLOW_FAST = "mlflow models serve", "mlflow models serve + uvloop/httptools"
# `pip install mlflow` brings plain uvicorn (h11, asyncio); this environment also has uvloop and
# httptools (workbench[serve] needs them), which uvicorn picks by itself: MLflow is measured both ways
MLFLOW_SETUPS = {MLFLOW: {"UVICORN_HTTP": "h11", "UVICORN_LOOP": "asyncio"}, MLFLOW_FAST: {}}
METHODS = (FLOOR, WB, WB_NOLOG, WB2, THRIFT, MLFLOW, MLFLOW_FAST)
SHORT = dict(
    zip(("floor", "http", "http-nolog", "http-2workers", "thrift", "mlflow", "mlflow-fast"), METHODS, strict=True)
)
# the prediction log switched off in a server process, to price it (never a workbench setting)
_LOG_OFF = (
    "import sys; from workbench.serving.logwriter import LogWriter; "
    "LogWriter.add = LogWriter.add_answer = lambda *a, **k: None; "
    "from workbench.cli import main; sys.exit(main(sys.argv[1:]))"
)
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "failures": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies: list[float], seconds: float, failures: int, cpu: float) -> dict[str, float]:
    return {
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "failures": float(failures),
        "generator_cpu": cpu / seconds,
    }


def drive(
    concurrency: int, seconds: float, connect: Callable[[], Any], call: Callable[[Any], bool]
) -> dict[str, float]:
    """``concurrency`` threads, each with its own connection, calling in a loop for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures = [0] * concurrency
    start = threading.Barrier(concurrency + 1)

    def worker(index: int) -> None:
        client = connect()
        call(client)  # warm the connection
        start.wait()
        deadline = time.perf_counter() + seconds
        while (now := time.perf_counter()) < deadline:
            ok = call(client)
            latencies[index].append(time.perf_counter() - now)
            failures[index] += not ok
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    cpu = time.process_time()
    for thread in threads:
        thread.join()
    return summary([x for per in latencies for x in per], seconds, sum(failures), time.process_time() - cpu)


def http_load(url: str, path: str, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    """The Python HTTP generator (used when wrk is not installed)."""
    import httpx

    headers = {"content-type": "application/json"}
    return drive(
        concurrency,
        seconds,
        lambda: httpx.Client(base_url=url, timeout=30.0),
        lambda client: client.post(path, content=body, headers=headers).status_code == 200,
    )


def thrift_load(port: int, model: str, rows: list[list[float]], concurrency: int, seconds: float) -> dict[str, float]:
    """The Thrift generator, as wrk is for HTTP: one call encoded once, sent again and again on
    ``concurrency`` connections from one thread, each reply checked without decoding it.

    The call is the shipped client's (thriftpy2, strict binary, framed). On each connection
    the first reply is decoded in full and must hold a prediction per row; every later one
    must be a ``REPLY`` whose result is ``success`` and of the same length (the same rows get
    the same answer but for the random request ids, which are all 32 digits), the way wrk
    checks an HTTP status and not the body. Encoding the call and decoding the reply in
    Python per request, as the client does, cost the generator about as much CPU as the
    server spends on the call, on the same two cores.
    """
    import selectors
    import struct

    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.thrift import TMessageType
    from thriftpy2.transport import TMemoryBuffer

    from workbench.serving.thrift_server import load_idl

    idl = load_idl()
    out = TMemoryBuffer()
    proto = TBinaryProtocol(out)
    proto.write_message_begin("predict", TMessageType.CALL, 1)
    idl.Predictor.predict_args(request=idl.PredictRequest(model=model, instances=rows)).write(proto)
    proto.write_message_end()
    payload = bytes(out.getvalue())
    call = struct.pack(">i", len(payload)) + payload
    # a successful reply: REPLY, "predict", the call's sequence id, then field 0 (success), a struct
    success = struct.pack(">Ii", 0x80010002, 7) + b"predict" + struct.pack(">ibh", 1, 12, 0)

    def first_reply(sock: socket.socket) -> int:
        sock.sendall(call)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise SystemExit("the Thrift server closed the connection")
            data += chunk
        reply = TBinaryProtocol(TMemoryBuffer(data[4:]))
        reply.read_message_begin()
        result = idl.Predictor.predict_result()
        result.read(reply)
        if result.success is None or len(result.success.predictions) != len(rows):
            raise SystemExit(f"the Thrift server did not answer: {result}")
        return len(data)

    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(concurrency)]
    expected = {first_reply(sock) for sock in socks}
    if len(expected) != 1:
        raise SystemExit(f"replies of different lengths to the same call: {expected}")
    (reply_length,) = expected
    selector = selectors.DefaultSelector()
    received = {}
    sent_at = {}
    for sock in socks:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(sock, selectors.EVENT_READ)
    latencies: list[float] = []
    failures = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    for sock in socks:
        received[sock] = bytearray()
        sent_at[sock] = time.perf_counter()
        sock.sendall(call)
    open_calls = len(socks)
    while open_calls:
        for key, _ in selector.select(timeout=30):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise SystemExit("the Thrift server closed a connection")
            data = received[sock]
            data += chunk
            if len(data) < reply_length:
                continue
            now = time.perf_counter()
            latencies.append(now - sent_at[sock])
            failures += len(data) != reply_length or not data.startswith(success, 4)
            data.clear()
            if now < deadline:
                sent_at[sock] = now
                sock.sendall(call)
            else:
                open_calls -= 1
    elapsed = time.perf_counter() - started
    used = time.process_time() - cpu
    for sock in socks:
        selector.unregister(sock)
        sock.close()
    return summary(latencies, elapsed, failures, used)


def run_wrk(url: str, body_file: Path, concurrency: int, seconds: float, script: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
        env={**os.environ, "BENCH_BODY": str(body_file)},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    duration = found["duration_us"] / 1e6
    return {
        "requests_per_s": found["requests"] / duration,
        "p50_ms": found["p50_us"] / 1e3,
        "p99_ms": found["p99_us"] / 1e3,
        "failures": float(found["failures"]),
        "generator_cpu": cpu / duration,
    }


def floor_app(model: str) -> Callable[..., Any]:
    """The floor: read the body, parse it with orjson, write a fixed answer as long as workbench's.

    The answer mirrors workbench's for as many rows as the body holds (a prediction, a
    probability per class and a request id per row), computed once per row count.
    """
    import orjson

    answers: dict[int, bytes] = {}

    def answer(n: int) -> bytes:
        if n not in answers:
            answers[n] = orjson.dumps(
                {
                    "model": model,
                    "version": 1,
                    "arm": "production",
                    "predictions": [1] * n,
                    "probabilities": [{"0": 0.012345678901234567, "1": 0.9876543210987654}] * n,
                    "request_ids": ["0123456789abcdef0123456789abcdef"] * n,
                }
            )
        return answers[n]

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        data = answer(len(orjson.loads(body)["instances"]))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return app


def serve_floor(model: str) -> None:
    """Serve :func:`floor_app` as workbench serves its app: a socket from the same ``bind``, uvicorn on httptools."""
    import uvicorn

    from workbench.listening import address, bind

    sock = bind("127.0.0.1", 0)
    print(f"floor: listening on {address('127.0.0.1', sock)}/", flush=True)
    config = uvicorn.Config(
        floor_app(model),
        http="httptools",
        ws="none",
        proxy_headers=False,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run(sockets=[sock])


def in_process(predict: Callable[[], Any], seconds: float) -> dict[str, float]:
    for _ in range(20):
        predict()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while (now := time.perf_counter()) < deadline:
        predict()
        times.append(time.perf_counter() - now)
    return {
        "requests_per_s": len(times) / sum(times),
        "p50_ms": statistics.median(times) * 1e3,
        "p99_ms": percentile(times, 0.99) * 1e3,
    }


def wait_for_output(out: Path, pattern: re.Pattern[str], process: subprocess.Popen[bytes], what: str) -> re.Match[str]:
    deadline = time.monotonic() + 120
    while True:
        found = pattern.search(out.read_text())
        if found:
            return found
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{what} did not start: {out.read_text()[-2000:]}")
        time.sleep(0.002)


def first_answer(url: str, path: str, body: dict[str, Any], started: float, process: subprocess.Popen[bytes]) -> float:
    import httpx

    with httpx.Client(base_url=url, timeout=30.0) as client:
        while True:
            try:
                if client.post(path, json=body).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit(f"{url} never answered {path}")
            time.sleep(0.002)


def start_workbench(
    folder: Path, env: dict[str, str], args: list[str], *, log: bool = True
) -> tuple[subprocess.Popen[bytes], str, float, Path]:
    """A ``workbench serve`` process, its URL, the seconds from starting it to its first prediction, its output."""
    out = folder / f"serve-{len(list(folder.glob('serve-*')))}.out"
    started = time.perf_counter()
    command = [sys.executable, "-m", "workbench.cli"] if log else [sys.executable, "-c", _LOG_OFF]
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [*command, "serve", "--port", "0", "--reload-seconds", "0", *args],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
        )
    url = wait_for_output(out, _LISTENING, process, "workbench serve").group(1)
    seconds = first_answer(url, "/v1/models/logreg/predict", {"instances": [[0.0] * 30]}, started, process)
    return process, url, seconds, out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_to_mlflow(folder: Path, models: dict[str, Any], X: Any) -> dict[str, str] | str:
    """Each model logged with ``mlflow.sklearn.log_model`` (its URI), or why MLflow cannot be measured."""
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        return "mlflow is not installed"
    import logging
    import warnings

    import skops.io as sio

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    # artifacts in the throwaway folder too (the default is ./mlruns in the working directory)
    mlflow.create_experiment("bench", artifact_location=(folder / "mlartifacts").as_uri())
    mlflow.set_experiment("bench")
    uris = {}
    for name, model in models.items():
        # MLflow 3 saves with skops too, but wants the non-default types listed by hand
        trusted = sio.get_untrusted_types(data=sio.dumps(model))
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name=name,
                input_example=X[:2],
                skops_trusted_types=trusted,
                pip_requirements=["scikit-learn", "skops"],  # given: inferring them runs the model in a subprocess
            )
        uris[name] = info.model_uri
    return uris


def start_floor(folder: Path, model: str) -> tuple[subprocess.Popen[bytes], str]:
    out = folder / f"floor-{model}.out"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve-floor", model], stdout=stdout, stderr=subprocess.STDOUT, cwd=folder
        )
    return process, wait_for_output(out, _LISTENING, process, "the floor").group(1)


def start_mlflow(
    folder: Path, name: str, uri: str, setup: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    out = folder / f"mlflow-{name}-{port}.out"
    bin_dir = str(Path(sys.executable).parent)  # it runs `uvicorn` from the PATH
    env = {
        **os.environ,
        **setup,
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    mlflow_cli = str(Path(bin_dir) / "mlflow")
    started = time.perf_counter()
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [mlflow_cli, "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        seconds = first_answer(url, "/invocations", {"inputs": [[0.0] * 30]}, started, process)
    except SystemExit:
        stop(process)
        raise SystemExit(f"mlflow models serve did not start: {out.read_text()[-2000:]}") from None
    return process, url, seconds


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def goals(rows: list[dict[str, Any]], start_s: float) -> list[str]:
    """The issue's goals, each as met / not met with the figures behind it."""

    def find(model: str, method: str, concurrency: int, n: int = 1) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if r["model"] == model and r["method"] == method and r["concurrency"] == concurrency and r["rows"] == n
            ),
            None,
        )

    verdicts = []
    for model in MODELS:
        for concurrency, share in ((1, 0.8), (16, 0.5)):
            wb, floor = find(model, WB, concurrency), find(model, FLOOR, concurrency)
            if wb is not None and floor is not None:
                ratio = wb["requests_per_s"] / floor["requests_per_s"]
                verdicts.append(
                    f"{model} single row, HTTP >= {share}x the floor at c={concurrency}: "
                    f"{'met' if ratio >= share else 'not met'} ({ratio:.2f}x)"
                )
        wb, floor = find(model, WB, 1, 100), find(model, FLOOR, 1, 100)
        if wb is not None and floor is not None:
            over = wb["p50_ms"] - floor["p50_ms"]
            verdicts.append(
                f"{model} 100 rows, HTTP p50 <= floor p50 + 0.3 ms: {'met' if over <= 0.3 else 'not met'} "
                f"({wb['p50_ms']:.2f} ms vs {floor['p50_ms']:.2f} ms)"
            )
        for concurrency in CONCURRENCY:
            thrift, wb = find(model, THRIFT, concurrency, 100), find(model, WB, concurrency, 100)
            if thrift is not None and wb is not None:
                ratio = thrift["requests_per_s"] / wb["requests_per_s"]
                verdicts.append(
                    f"{model} 100 rows, Thrift >= HTTP at c={concurrency}: "
                    f"{'met' if ratio >= 1 else 'not met'} ({ratio:.2f}x)"
                )
            nolog, wb = find(model, WB_NOLOG, concurrency), find(model, WB, concurrency)
            if nolog is not None and wb is not None:
                cost = 1 - wb["requests_per_s"] / nolog["requests_per_s"]
                verdicts.append(
                    f"{model} single row, the prediction log costs <= 10% at c={concurrency}: "
                    f"{'met' if cost <= 0.10 else 'not met'} ({cost:.0%})"
                )
    for model, factor in (("logreg", 10), ("forest", 20)):
        for concurrency in CONCURRENCY:
            for method in (WB, WB2):
                wb = find(model, method, concurrency)
                if wb is None:
                    continue
                for against in (MLFLOW, MLFLOW_FAST):
                    ml = find(model, against, concurrency)
                    if ml is None:
                        verdicts.append(f"{model} >= {factor}x {against}: not measured")
                        continue
                    ratio = wb["requests_per_s"] / ml["requests_per_s"]
                    verdicts.append(
                        f"{model} single row, {method} >= {factor}x {against} at c={concurrency}: "
                        f"{'met' if ratio >= factor else 'not met'} ({ratio:.1f}x)"
                    )
    wb, floor = find("forest", WB, 1), find("forest", "in-process predict_proba (scikit-learn)", 1)
    if wb is not None and floor is not None:
        verdict = "met" if wb["p50_ms"] < floor["p50_ms"] else "not met"
        verdicts.append(
            f"forest single-row HTTP p50 below in-process scikit-learn: {verdict} "
            f"({wb['p50_ms']:.2f} ms vs {floor['p50_ms']:.2f} ms)"
        )
    verdicts.append(f"server start to first answer under 2 s: {'met' if start_s < 2 else 'not met'} ({start_s:.2f} s)")
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median round is reported)")
    parser.add_argument("--load-http", nargs=4, metavar=("URL", "PATH", "CONCURRENCY", "BODY"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--load-thrift", nargs=4, metavar=("PORT", "MODEL", "CONCURRENCY", "BODY"), help=argparse.SUPPRESS
    )
    parser.add_argument("--serve-floor", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--no-mlflow", action="store_true", help="leave MLflow out even when it is installed")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--rows", default=",".join(map(str, ROWS)), help="comma-separated row counts")
    parser.add_argument("--methods", default=",".join(SHORT), help="comma-separated subset of: " + ", ".join(SHORT))
    args = parser.parse_args()
    # a subset is printed only: bench/results/serving.json keeps the last whole run
    chosen_models = [m for m in MODELS if m in args.models.split(",")]
    chosen_rows = [int(n) for n in args.rows.split(",")]
    unknown = sorted(set(args.methods.split(",")) - set(SHORT))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(SHORT)}")
    chosen_methods = {SHORT[m] for m in args.methods.split(",")}
    whole = chosen_models == list(MODELS) and chosen_rows == list(ROWS) and chosen_methods == set(METHODS)
    chosen_methods.add(FLOOR)  # every share is of the floor in the same run
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return
    if args.load_http:
        url, path, concurrency, body = args.load_http
        print(json.dumps(http_load(url, path, Path(body).read_bytes(), int(concurrency), args.seconds)))
        return
    if args.load_thrift:
        port, model, concurrency, body = args.load_thrift
        rows = json.loads(Path(body).read_text())["instances"]
        print(json.dumps(thrift_load(int(port), model, rows, int(concurrency), args.seconds)))
        return

    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from workbench.config import load_settings
    from workbench.registry import onnx as onnx_module
    from workbench.registry.api import Registry
    from workbench.storage import open_storage

    X, y = load_breast_cancer(return_X_y=True)
    makers = {
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": lambda: RandomForestClassifier(n_estimators=100, random_state=0),
    }
    models = {name: makers[name]().fit(X, y) for name in chosen_models}
    wrk = shutil.which("wrk")
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "http_generator": "wrk -t1" if wrk else "python threads + httpx",
        "rows": [],
    }
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = folder / "wbhome"
        storage = open_storage(load_settings(home=home, cwd=folder, environ={}), url="local")
        registry = Registry(storage.models)
        sessions = {}
        for name, model in models.items():
            registered = registry.register(model, name, eval_data=(X, y), onnx=True)
            version = registry.record_stage(name, registered.version, "production")
            sessions[name] = onnx_module.session(storage.models.verified_artifact(version, "onnx"), threads=1)
        storage.close()
        script = folder / "post.lua"
        script.write_text(WRK_SCRIPT)
        bodies = {}
        for name in models:
            for n in chosen_rows:
                bodies[name, n] = folder / f"{name}-{n}.json"
                bodies[name, n].write_text(json.dumps({"instances": X[:n].tolist()}))

        floors = []
        for name, model in models.items():
            for n in chosen_rows:
                batch = X[:n]
                session = sessions[name]
                feed = {session.get_inputs()[0].name: batch.astype(np.float32)}
                floors.append(
                    {
                        "model": name,
                        "rows": n,
                        "method": "in-process predict_proba (scikit-learn)",
                        "concurrency": 1,
                        **in_process(lambda m=model, b=batch: m.predict_proba(b), 2.0),
                    }
                )
                floors.append(
                    {
                        "model": name,
                        "rows": n,
                        "method": "in-process ONNX Runtime",
                        "concurrency": 1,
                        **in_process(lambda s=session, f=feed: s.run(None, f), 2.0),
                    }
                )

        env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_TOKEN": "bench"}
        starts = []
        for _ in range(3):  # start to first answer: median of three fresh starts
            process, _, seconds, _ = start_workbench(folder, env, [])
            starts.append(seconds)
            stop(process)
        results["start_to_first_answer_s"] = statistics.median(starts)
        results["start_to_first_answer_all_s"] = starts
        try:
            process, url, _, out = start_workbench(folder, env, ["--thrift-port", "0"])
            processes.append(process)
            found = _THRIFT.search(out.read_text())
            thrift_port = int(found.group(1)) if found else None
            process, url_nolog, _, _ = start_workbench(folder, env, [], log=False)
            processes.append(process)
            floor_urls = {}
            for name in models:
                process, floor_urls[name] = start_floor(folder, name)
                processes.append(process)
            url2 = ""
            if WB2 in chosen_methods:
                process, url2, _, _ = start_workbench(folder, env, ["--workers", "2"])
                processes.append(process)
                time.sleep(3)  # the second worker loads its models
            mlflow_uris = (
                log_to_mlflow(folder, models, X)
                if not args.no_mlflow and {MLFLOW, MLFLOW_FAST} & chosen_methods
                else "left out (--no-mlflow or --methods)"
            )
            mlflow_urls: dict[tuple[str, str], str] = {}
            if isinstance(mlflow_uris, dict):
                results["mlflow_start_to_first_answer_s"] = {}
                for setup_name, setup in MLFLOW_SETUPS.items():
                    for name, uri in mlflow_uris.items():
                        process, mlflow_url, seconds = start_mlflow(folder, name, uri, setup)
                        processes.append(process)
                        mlflow_urls[setup_name, name] = mlflow_url
                        results["mlflow_start_to_first_answer_s"][f"{setup_name}, {name}"] = seconds
            else:
                results["mlflow"] = mlflow_uris

            def http(target: str, path: str, name: str, n: int, concurrency: int) -> dict[str, float]:
                if wrk:
                    return run_wrk(target + path, bodies[name, n], concurrency, args.seconds, script)
                return generator(["--load-http", target, path, str(concurrency), str(bodies[name, n])])

            def generator(extra: list[str]) -> dict[str, float]:
                command = [sys.executable, __file__, "--seconds", str(args.seconds), *extra]
                out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.seconds + 300)
                return dict(json.loads(out.stdout))

            cells: list[tuple[str, str, int, int, Callable[[], dict[str, float]]]] = []
            for name in models:
                for n in chosen_rows:
                    for concurrency in CONCURRENCY:
                        path = f"/v1/models/{name}/predict"
                        at = floor_urls[name]
                        cells.append(
                            (name, FLOOR, n, concurrency, lambda t=at, m=name, n=n, c=concurrency: http(t, "", m, n, c))
                        )
                        cells.append(
                            (name, WB, n, concurrency, lambda p=path, m=name, n=n, c=concurrency: http(url, p, m, n, c))
                        )
                        if n == 1:
                            cells.append(
                                (
                                    name,
                                    WB_NOLOG,
                                    n,
                                    concurrency,
                                    lambda p=path, m=name, n=n, c=concurrency: http(url_nolog, p, m, n, c),
                                )
                            )
                        if concurrency > 1:
                            cells.append(
                                (
                                    name,
                                    WB2,
                                    n,
                                    concurrency,
                                    lambda p=path, m=name, n=n, c=concurrency: http(url2, p, m, n, c),
                                )
                            )
                        if thrift_port is not None:
                            extra = ["--load-thrift", str(thrift_port), name, str(concurrency), str(bodies[name, n])]
                            cells.append((name, THRIFT, n, concurrency, lambda e=extra: generator(e)))
                        for setup_name in MLFLOW_SETUPS:
                            if (setup_name, name) not in mlflow_urls:
                                continue
                            target = mlflow_urls[setup_name, name]
                            cells.append(
                                (
                                    name,
                                    setup_name,
                                    n,
                                    concurrency,
                                    lambda t=target, m=name, n=n, c=concurrency: http(t, "/invocations", m, n, c),
                                )
                            )
            cells = [cell for cell in cells if cell[1] in chosen_methods]
            measured: dict[tuple[str, str, int, int], list[dict[str, float]]] = {}
            for round_ in range(args.rounds):
                for name, method, n, concurrency, measure in cells:
                    found_row = measure()
                    if found_row["failures"]:
                        raise SystemExit(
                            f"{method} {name} rows={n} c={concurrency}: {found_row['failures']:.0f} failures"
                        )
                    measured.setdefault((name, method, n, concurrency), []).append(found_row)
                print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for process in processes:
                stop(process)
    served = []
    for (name, method, n, concurrency), runs in measured.items():
        middle = sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]
        served.append({"model": name, "rows": n, "method": method, "concurrency": concurrency, **middle})
    for row in served:
        floor_row = next(
            r
            for r in served
            if r["method"] == FLOOR
            and r["model"] == row["model"]
            and r["rows"] == row["rows"]
            and r["concurrency"] == row["concurrency"]
        )
        row["vs_floor"] = row["requests_per_s"] / floor_row["requests_per_s"]
        row["p50_over_floor_ms"] = row["p50_ms"] - floor_row["p50_ms"]
        for key, against in (("vs_mlflow", MLFLOW), ("vs_mlflow_fast", MLFLOW_FAST)):
            ml = next(
                (
                    r
                    for r in served
                    if r["method"] == against
                    and r["model"] == row["model"]
                    and r["rows"] == row["rows"]
                    and r["concurrency"] == row["concurrency"]
                ),
                None,
            )
            row[key] = row["requests_per_s"] / ml["requests_per_s"] if ml else None
    order = {m: i for i, m in enumerate(METHODS)}
    served.sort(key=lambda r: (MODELS.index(r["model"]), r["rows"], r["concurrency"], order[r["method"]]))
    results["rows"] = floors + served
    results["goals"] = goals(results["rows"], results["start_to_first_answer_s"])
    if whole:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))

    print(f"HTTP load generator: {results['http_generator']}")
    print(f"workbench start to first answer: {results['start_to_first_answer_s']:.2f} s (median of 3)")
    for name, seconds in results.get("mlflow_start_to_first_answer_s", {}).items():
        print(f"{name} start to first answer: {seconds:.2f} s")
    print(
        "\n| model | rows | method | concurrency | requests/s | p50 | p99 | share of floor | p50 over floor "
        "| vs MLflow | vs MLflow + uvloop | generator CPU |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results["rows"]:
        ratios = " | ".join(f"{r[k]:.1f}x" if r.get(k) else "-" for k in ("vs_mlflow", "vs_mlflow_fast"))
        floor_share = f"{r['vs_floor']:.2f}x | {r['p50_over_floor_ms']:+.2f} ms" if "vs_floor" in r else "- | -"
        cpu = f"{r['generator_cpu']:.2f}" if "generator_cpu" in r else "-"
        print(
            f"| {r['model']} | {r['rows']} | {r['method']} | {r['concurrency']} | {r['requests_per_s']:,.0f} "
            f"| {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {floor_share} | {ratios} | {cpu} |"
        )
    print("\n" + "\n".join(f"- {verdict}" for verdict in results["goals"]))


if __name__ == "__main__":
    main()
