"""Model save/load through the registry vs joblib, skops and MLflow, in one run.

For a RandomForest (200 trees) and a LogisticRegression, measures the median wall time
of saving and of loading through:
- workbench, local store (register: skops dump, trusted-types scan, atomic publish;
  load_model: SHA-256 check, then skops load trusting exactly the recorded types);
- workbench, Redis store (a redis-server started here on a loopback port, when installed);
- joblib.dump / joblib.load to a local file (pickle: no safety, the speed floor);
- skops.io.dump / skops.io.load to a local file with a hand-kept trusted list;
- mlflow.sklearn.log_model / mlflow.sklearn.load_model (when mlflow is installed; it is
  not a workbench dependency: ``pip install mlflow`` into the benchmark environment).
Also the registration latency of a small model with evaluation metrics on the local store.

Writes bench/results/registry.json and prints a Markdown table.
Usage: python bench/registry.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "registry.json"


def median_seconds(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str | None]:
    """A throwaway redis-server (fsync always, as the store's docs advise); None if not installed."""
    executable = shutil.which("redis-server")
    if executable is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0?prefix=bench&timeout=30"
    finally:
        process.terminate()
        process.wait(timeout=10)


def models() -> tuple[dict[str, Any], Any, Any]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=2000, n_features=20, n_informative=10, random_state=0)
    fitted = {
        "RandomForest(200)": RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1).fit(X, y),
        "LogisticRegression": LogisticRegression(max_iter=1000).fit(X, y),
    }
    return fitted, X, y


Prepared = dict[str, tuple[float, Callable[[], Any]]]
"""model label -> (median save seconds, a function that loads the saved model once)"""


def prepare_workbench(url: str, fitted: dict[str, Any], repeats: int) -> Prepared:
    from workbench.registry import Registry
    from workbench.storage import open_storage

    registry = Registry(open_storage(url=url).models)
    out: Prepared = {}
    for label, model in fitted.items():
        name = label.split("(")[0]
        rounds = iter(range(10**6))

        def register(m: Any = model, n: str = name, rounds: Iterator[int] = rounds) -> None:
            # A new attribute value per round gives new bytes, so content addressing
            # cannot skip the write: every round pays for a full publish.
            m.bench_round_ = next(rounds)
            registry.register(m, n)

        save = median_seconds(register, max(3, repeats // 2))
        version = registry.get(name).version
        out[label] = (save, lambda n=name, v=version: registry.load_model(n, version=v))
    return out


def prepare_files(folder: Path, fitted: dict[str, Any], repeats: int) -> dict[str, Prepared]:
    import joblib
    import skops.io as sio

    out: dict[str, Prepared] = {"joblib file": {}, "skops file": {}}
    for index, (label, model) in enumerate(fitted.items()):
        path = folder / f"model{index}.joblib"
        save = median_seconds(lambda m=model, p=path: joblib.dump(m, p), repeats)
        out["joblib file"][label] = (save, lambda p=path: joblib.load(p))
        path = folder / f"model{index}.skops"
        save = median_seconds(lambda m=model, p=path: sio.dump(m, p), repeats)
        trusted = sio.get_untrusted_types(file=path)
        out["skops file"][label] = (save, lambda p=path, t=trusted: sio.load(p, trusted=t))
    return out


def prepare_mlflow(folder: Path, fitted: dict[str, Any], X: Any, repeats: int) -> tuple[Prepared | str, str]:
    """MLflow's save and load, or why it could not be measured; and its version."""
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        return "mlflow is not installed", ""
    import logging
    import warnings

    import skops.io as sio

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    out: Prepared = {}
    for label, model in fitted.items():
        uris: list[str] = []
        # MLflow 3 saves with skops too, but wants the non-default types listed by hand.
        trusted = sio.get_untrusted_types(data=sio.dumps(model))

        def save(m: Any = model, uris: list[str] = uris, trusted: list[str] = trusted) -> None:
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(m, name="model", input_example=X[:2], skops_trusted_types=trusted)
                uris.append(info.model_uri)

        saved = median_seconds(save, max(3, repeats // 2))
        out[label] = (saved, lambda u=uris[-1]: mlflow.sklearn.load_model(u))
    return out, mlflow.__version__


def measure_loads(prepared: dict[str, Prepared | str], repeats: int) -> dict[str, Any]:
    """Median load time per method and model, the methods interleaved round by round so
    that a busy moment on the machine hits all of them alike."""
    loads: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for method, entries in prepared.items():
            if isinstance(entries, str):
                continue
            for label, (_, load) in entries.items():
                started = time.perf_counter()
                load()
                loads.setdefault((method, label), []).append(time.perf_counter() - started)
    results: dict[str, Any] = {}
    for method, entries in prepared.items():
        if isinstance(entries, str):
            results[method] = entries
            continue
        results[method] = {
            label: {"save": save, "load": statistics.median(loads[(method, label)])}
            for label, (save, _) in entries.items()
        }
    return results


def small_registration_ms(X: Any, y: Any, repeats: int = 20) -> float:
    from sklearn.linear_model import LogisticRegression

    from workbench.registry import Registry
    from workbench.storage import open_storage

    small = LogisticRegression(max_iter=1000).fit(X[:500, :8], y[:500])
    storage = open_storage(url="local")
    registry = Registry(storage.models)
    registry.register(small, "warmup", eval_data=(X[:500, :8], y[:500]))
    seconds = median_seconds(lambda: registry.register(small, "small", eval_data=(X[:500, :8], y[:500])), repeats)
    storage.close()
    return seconds * 1e3


def table(results: dict[str, Any]) -> str:
    labels = ["RandomForest(200)", "LogisticRegression"]
    lines = [
        "| method | RF(200) save | RF(200) load | LogReg save | LogReg load |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for method, values in results["methods"].items():
        if isinstance(values, str):
            lines.append(f"| {method} | {values} | | | |")
            continue
        cells = [f"{values[label][kind] * 1e3:,.1f} ms" for label in labels for kind in ("save", "load")]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    fitted, X, y = models()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        os.environ["WORKBENCH_HOME"] = str(folder / "home")
        (folder / "redis").mkdir()
        (folder / "mlflow").mkdir()
        with redis_server(folder / "redis") as url:
            prepared: dict[str, Prepared | str] = {"workbench local": prepare_workbench("local", fitted, args.repeats)}
            prepared["workbench redis"] = (
                prepare_workbench(url, fitted, args.repeats) if url else "redis-server is not installed"
            )
            prepared.update(prepare_files(folder, fitted, args.repeats))
            prepared["mlflow.sklearn"], mlflow_version = prepare_mlflow(folder / "mlflow", fitted, X, args.repeats)
            methods = measure_loads(prepared, args.repeats)
        small_ms = small_registration_ms(X, y)
    skops_load = methods["skops file"]
    ratios = {label: methods["workbench local"][label]["load"] / skops_load[label]["load"] for label in skops_load}
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "mlflow": mlflow_version},
        "repeats": args.repeats,
        "methods": methods,
        "small_registration_ms": small_ms,
        "local_load_vs_skops": ratios,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print()
    print("workbench local load / skops file load: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    print(f"registration of a small LogisticRegression with evaluation metrics (local store): {small_ms:.1f} ms")


if __name__ == "__main__":
    main()
