"""Serving under abuse: slow connections, huge headers and Thrift floods against a real ``workbench serve``.

Starts ``workbench serve --thrift-port 0`` on loopback in a throwaway home (iris, a
LogisticRegression), measures a valid request's latency alone, then starts an attacker
process that for ``--seconds`` keeps in flight:

- ``--slow`` slow HTTP connections (slowloris): a request line, then one header line every
  second, never finishing; a tenth of them finish their headers and send the body one byte
  a second instead; each reconnects as soon as the server closes it;
- one connection after another sending a request whose header is ``--header-mib`` MiB;
- ``--thrift-idle`` silent Thrift connections from 127.0.0.1, reconnecting when closed.

Meanwhile this process sends valid requests without pause: HTTP predicts (a kept-alive
connection and a new connection each, alternately) and Thrift predicts from another client
address (127.0.0.2). It reports how many valid requests were answered, how many got a 5xx
or failed, the latency percentiles before and during the attack, how many took over 1 s
(a stall), the server's RSS before the attack and at its largest during it, what the
attacker saw (connections opened, answers by status, closes), and whether the server
logged a traceback. Writes bench/results/serving_abuse.json.

Usage: python bench/serving_abuse.py [--slow 2000] [--header-mib 64] [--seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "serving_abuse.json"
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
_THRIFT = re.compile(r"thrift on 127\.0\.0\.1:(\d+)")
ROW = [5.1, 3.5, 1.4, 0.2]
BODY = json.dumps({"instances": [ROW]}).encode()
STALL_S = 1.0


# --- the attacker (its own process, one asyncio loop) ---


async def _slow_http(port: int, index: int, deadline: float, seen: Counter[str]) -> None:
    """One slow client, reconnecting whenever the server closes it, until ``deadline``."""
    body_sender = index % 10 == 0
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            seen["connect failed"] += 1
            await asyncio.sleep(0.5)
            continue
        seen["slow connections opened"] += 1
        try:
            writer.write(b"POST /v1/models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            if body_sender:
                writer.write(b"Content-Length: 100000\r\n\r\n")
            while time.monotonic() < deadline:
                answer = await _read_for(reader, 1.0)
                if answer is not None:
                    seen[f"slow answered {answer[9:12].decode(errors='replace') or 'closed'}"] += 1
                    break
                writer.write(b"{" if body_sender else b"X-Slow: 1\r\n")
                await writer.drain()
        except OSError:
            seen["slow reset by the server"] += 1
        finally:
            writer.close()


async def _read_for(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent within ``seconds`` (``b""`` when it closed), ``None`` when it sent nothing."""
    try:
        return await asyncio.wait_for(reader.read(65536), seconds)
    except TimeoutError:
        return None


async def _huge_header(port: int, mib: int, deadline: float, seen: Counter[str]) -> None:
    """One request after another whose single header is ``mib`` MiB, written as fast as the server reads."""
    chunk = b"a" * (1 << 20)
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        seen["huge headers started"] += 1
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
            for _ in range(mib):
                writer.write(chunk)
                await writer.drain()
            writer.write(b"\r\n\r\n")
            await writer.drain()
            seen["huge headers sent whole"] += 1
        except OSError:
            pass
        try:
            answer = await asyncio.wait_for(reader.read(65536), 10)
            seen[f"huge header answered {answer[9:12].decode(errors='replace') or 'closed'}"] += 1
        except (OSError, TimeoutError):
            seen["huge header reset by the server"] += 1
        writer.close()


async def _idle_thrift(port: int, deadline: float, seen: Counter[str]) -> None:
    """A silent Thrift connection from 127.0.0.1, reopened whenever the server closes it."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        seen["idle thrift connections opened"] += 1
        try:
            await asyncio.wait_for(reader.read(1), max(0.0, deadline - time.monotonic()))
            seen["idle thrift closed by the server"] += 1
        except (OSError, TimeoutError):
            pass
        writer.close()


async def attack(port: int, thrift_port: int, slow: int, mib: int, idle: int, seconds: float) -> dict[str, int]:
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(_huge_header(port, mib, deadline, seen))]
    tasks += [asyncio.create_task(_idle_thrift(thrift_port, deadline, seen)) for _ in range(idle)]
    for index in range(slow):
        tasks.append(asyncio.create_task(_slow_http(port, index, deadline, seen)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # a flood, not a SYN storm the kernel's backlog drops
    print("attacking", flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    return dict(seen)


# --- the valid clients (this process) ---


class Probe:
    """Valid requests in threads: latencies, statuses and failures, labelled by phase."""

    def __init__(self, url: str, thrift_port: int) -> None:
        self.url = url
        self.thrift_port = thrift_port
        self.phase = "before"
        self.latencies: dict[str, list[float]] = {"before": [], "during": []}
        self.statuses: Counter[str] = Counter()
        self.stop = threading.Event()

    def record(self, started: float, status: str) -> None:
        self.latencies[self.phase].append(time.perf_counter() - started)
        self.statuses[f"{self.phase} {status}"] += 1

    def http(self) -> None:
        import httpx

        kept = httpx.Client(base_url=self.url, timeout=30.0)
        fresh = True
        while not self.stop.is_set():
            fresh = not fresh
            started = time.perf_counter()
            try:
                if fresh:
                    with httpx.Client(base_url=self.url, timeout=30.0) as client:
                        response = client.post("/v1/models/iris/predict", content=BODY, headers=_JSON)
                else:
                    response = kept.post("/v1/models/iris/predict", content=BODY, headers=_JSON)
                self.record(started, f"HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                self.record(started, f"HTTP failed ({type(exc).__name__})")
                kept.close()
                kept = httpx.Client(base_url=self.url, timeout=30.0)
            time.sleep(0.01)
        kept.close()

    def thrift(self) -> None:
        from thriftpy2.protocol import TBinaryProtocol
        from thriftpy2.thrift import TClient
        from thriftpy2.transport import TFramedTransport, TSocket

        from workbench.serving.thrift_server import load_idl

        idl = load_idl()
        request = idl.PredictRequest(model="iris", instances=[ROW])
        client = None
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                if client is None:
                    sock = socket.create_connection(("127.0.0.1", self.thrift_port), 30, ("127.0.0.2", 0))
                    transport = TFramedTransport(TSocket(sock=sock, socket_timeout=30_000))
                    client = TClient(idl.Predictor, TBinaryProtocol(transport))
                client.predict(request)
                self.record(started, "Thrift ok")
            except Exception as exc:  # any failure of a valid call is what this measures
                self.record(started, f"Thrift failed ({type(exc).__name__})")
                client = None
            time.sleep(0.01)


_JSON = {"content-type": "application/json"}


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str, int, Path]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from workbench.config import load_settings
    from workbench.registry.api import Registry
    from workbench.storage import open_storage

    home = folder / "wbhome"
    storage = open_storage(load_settings(home=home, cwd=folder, environ={}), url="local")
    X, y = load_iris(return_X_y=True)
    registry = Registry(storage.models)
    registered = registry.register(LogisticRegression(max_iter=2000).fit(X, y), "iris", eval_data=(X, y))
    registry.record_stage("iris", registered.version, "production")
    storage.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_HOME=str(home), WORKBENCH_TOKEN="bench")
    out, err = folder / "serve.out", folder / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", "--port", "0", "--thrift-port", "0"],
            stdout=stdout,
            stderr=stderr,
            cwd=folder,
            env=env,
        )
    deadline = time.monotonic() + 120
    while not (_THRIFT.search(out.read_text()) and _LISTENING.search(out.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"workbench serve did not start: {out.read_text()}{err.read_text()}")
        time.sleep(0.05)
    found = _THRIFT.search(out.read_text())
    url = _LISTENING.search(out.read_text())
    assert found is not None and url is not None
    return process, url.group(1), int(found.group(1)), err


def measure(slow: int, mib: int, idle: int, seconds: float) -> dict[str, Any]:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        process, url, thrift_port, err = _start_server(Path(tmp))
        try:
            with httpx.Client(base_url=url, timeout=30.0) as client:
                for _ in range(200):  # warm up: first requests, lazy imports, allocator
                    client.post("/v1/models/iris/predict", content=BODY, headers=_JSON)
            probe = Probe(url, thrift_port)
            threads = [threading.Thread(target=probe.http), threading.Thread(target=probe.thrift)]
            for thread in threads:
                thread.start()
            time.sleep(min(3.0, seconds / 2))
            rss_before = _rss(process.pid)
            port = int(url.rsplit(":", 1)[1])
            command = [sys.executable, __file__, "--seconds", str(seconds), "--attack"]
            command += [str(port), str(thrift_port), str(slow), str(mib), str(idle)]
            attacker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert attacker.stdout is not None
            attacker.stdout.readline()  # "attacking": every slow client has been started
            probe.phase = "during"
            rss_peak = rss_before
            while attacker.poll() is None:
                rss_peak = max(rss_peak, _rss(process.pid))
                time.sleep(0.2)
            probe.stop.set()
            for thread in threads:
                thread.join(timeout=60)
            attacked, attacker_err = attacker.communicate(timeout=60)
            alive = process.poll() is None
        finally:
            process.terminate()
            process.wait(timeout=30)
        log = err.read_text()
    during = probe.latencies["during"]
    failed = {k: n for k, n in probe.statuses.items() if k.startswith("during") and ("failed" in k or " 5" in k)}
    return {
        "slow_connections": slow,
        "header_mib": mib,
        "idle_thrift": idle,
        "seconds": seconds,
        "valid_requests_during": len(during),
        "statuses": dict(probe.statuses),
        "failed_or_5xx": sum(failed.values()),
        "stalls_over_1s": sum(1 for s in during if s > STALL_S),
        "latency_ms": {
            phase: {
                "p50": _quantile(values, 0.5) * 1e3,
                "p99": _quantile(values, 0.99) * 1e3,
                "max": max(values, default=float("nan")) * 1e3,
            }
            for phase, values in probe.latencies.items()
        },
        "rss_before_mb": rss_before / 1e6,
        "rss_peak_mb": rss_peak / 1e6,
        "rss_growth_mb": (rss_peak - rss_before) / 1e6,
        "attacker": json.loads(attacked.strip().splitlines()[-1]) if attacked.strip() else {"error": attacker_err},
        "server_alive": alive,
        "server_tracebacks": log.count("Traceback"),
        "server_log_lines": len(log.splitlines()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=2000, help="slow HTTP connections in flight")
    parser.add_argument("--header-mib", type=int, default=64, help="size of each huge header")
    parser.add_argument("--thrift-idle", type=int, default=300, help="silent Thrift connections from one address")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the attack lasts")
    parser.add_argument("--json", action="store_true", help="print only the JSON result (and write no file)")
    parser.add_argument("--attack", nargs=5, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        port, thrift_port, slow, mib, idle = args.attack
        print(json.dumps(asyncio.run(attack(port, thrift_port, slow, mib, idle, args.seconds))), flush=True)
        return
    result = measure(args.slow, args.header_mib, args.thrift_idle, args.seconds)
    if args.json:
        print(json.dumps(result))
        return
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
