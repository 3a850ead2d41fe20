"""HTTP serving throughput and latency: ``workbench serve`` against in-process ``predict_proba``.

For a LogisticRegression and a RandomForest(100) on breast cancer (30 features), each
registered in production in a throwaway home, starts one ``workbench serve`` process on a
loopback port and drives it from a load generator in a *separate* process (this script
with ``--load``: N threads, each with its own keep-alive httpx client) for single-row and
100-row requests at concurrency 1 and 16. The floor is ``predict_proba`` in process on the
same rows. Reports requests/s, p50 and p99, and the time from starting the server to its
first answer.

Not measured yet: Thrift and ``mlflow models serve`` (issue 7's full table).
Writes bench/results/serving.json and prints a Markdown table.
Usage: python bench/serving.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "serving.json"
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(url: str, path: str, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    """Drive ``url+path`` with ``concurrency`` threads for ``seconds``; every answer must be 200."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures = [0] * concurrency
    start = threading.Barrier(concurrency)
    headers = {"content-type": "application/json"}

    def worker(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            client.post(path, content=body, headers=headers)  # warm the connection
            start.wait()
            deadline = time.perf_counter() + seconds
            while (now := time.perf_counter()) < deadline:
                status = client.post(path, content=body, headers=headers).status_code
                latencies[index].append(time.perf_counter() - now)
                failures[index] += status != 200

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [x for per in latencies for x in per]
    return {
        "requests_per_s": len(every) / seconds,
        "p50_ms": percentile(every, 0.5) * 1e3,
        "p99_ms": percentile(every, 0.99) * 1e3,
        "failures": float(sum(failures)),
    }


def start_server(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, float]:
    out = folder / "serve.out"
    started = time.perf_counter()
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", "--port", "0", "--reload-seconds", "0"],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            cwd=folder,
            env=env,
        )
    import httpx

    while True:
        found = _LISTENING.search(out.read_text())
        if found:
            break
        if process.poll() is not None or time.perf_counter() - started > 60:
            process.kill()
            raise SystemExit(f"workbench serve did not start: {out.read_text()}")
        time.sleep(0.005)
    url = found.group(1)
    with httpx.Client(base_url=url, timeout=30.0) as client:
        body = {"instances": [[0.0] * 30]}
        while client.post("/v1/models/logreg/predict", json=body).status_code != 200:
            time.sleep(0.005)
    return process, url, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    parser.add_argument("--load", nargs=4, metavar=("URL", "PATH", "CONCURRENCY", "BODY_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        url, path, concurrency, body_file = args.load
        print(json.dumps(load(url, path, Path(body_file).read_bytes(), int(concurrency), args.seconds)))
        return

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from workbench.config import load_settings
    from workbench.registry.api import Registry, open_store

    X, y = load_breast_cancer(return_X_y=True)
    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y),
    }
    results: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = folder / "wbhome"
        store = open_store("local", load_settings(home=home, cwd=folder, environ={}))
        registry = Registry(store)
        for name, model in models.items():
            registry.register(model, name, eval_data=(X, y), stage="production")
        store.close()
        env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_TOKEN": "bench"}
        process, url, first_answer = start_server(folder, env)
        results["start_to_first_answer_s"] = first_answer
        try:
            for name, model in models.items():
                for rows in (1, 100):
                    batch = X[:rows]
                    body_file = folder / f"{name}-{rows}.json"
                    body_file.write_text(json.dumps({"instances": batch.tolist()}))
                    times = []
                    for _ in range(200):
                        now = time.perf_counter()
                        model.predict_proba(batch)
                        times.append(time.perf_counter() - now)
                    results["rows"].append(
                        {
                            "model": name,
                            "rows": rows,
                            "method": "in-process predict_proba",
                            "concurrency": 1,
                            "requests_per_s": 1 / statistics.median(times),
                            "p50_ms": statistics.median(times) * 1e3,
                            "p99_ms": percentile(times, 0.99) * 1e3,
                        }
                    )
                    for concurrency in (1, 16):
                        command = [
                            sys.executable,
                            __file__,
                            "--seconds",
                            str(args.seconds),
                            "--load",
                            url,
                            f"/v1/models/{name}/predict",
                            str(concurrency),
                            str(body_file),
                        ]
                        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
                        measured = json.loads(out.stdout)
                        results["rows"].append(
                            {
                                "model": name,
                                "rows": rows,
                                "method": "workbench HTTP",
                                "concurrency": concurrency,
                                **measured,
                            }
                        )
        finally:
            process.terminate()
            process.wait(timeout=30)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"start to first answer: {results['start_to_first_answer_s']:.2f} s\n")
    print("| model | rows | method | concurrency | requests/s | p50 | p99 |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in results["rows"]:
        print(
            f"| {r['model']} | {r['rows']} | {r['method']} | {r['concurrency']} | {r['requests_per_s']:,.0f} "
            f"| {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |"
        )


if __name__ == "__main__":
    main()
