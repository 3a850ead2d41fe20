"""Reading a 1,000,000 x 20 float64 dataset: ``wb.datamart.get`` vs ``pandas.read_parquet``
vs ``numpy.load(mmap_mode="r")``, all from local files, in one run.

Every method reads once to warm the page cache (and the datamart's Redis read-through
cache), then the methods run in interleaved rounds (A B C ... A B C ...) so drift of the
machine hits them alike; each figure is the median over rounds. Two figures per method:
``open`` (the call alone; memory-mapped results touch no data yet) and ``open+scan`` (the
call plus summing every value, which pulls every page in).

The Redis rows need ``redis-server`` on the PATH (a throwaway server on a loopback port).
Writes bench/results/datamart.json and prints a Markdown table.
Usage: python bench/datamart.py [--rows 1000000] [--cols 20] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry import redis_server

RESULTS = Path(__file__).parent / "results" / "datamart.json"


def scan(result: Any) -> float:
    """The sum of every value of a result, whatever its shape."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(result, pd.DataFrame):
        return float(sum(result[c].to_numpy().sum() for c in result.columns))
    if isinstance(result, pa.Table):
        return float(sum(c.to_numpy().sum() for c in result.columns))
    if isinstance(result, dict):
        return float(sum(a.sum() for a in result.values()))
    return float(np.asarray(result).sum())


def methods(folder: Path, rows: int, cols: int, redis_url: str | None) -> dict[str, Callable[[], Any]]:
    import numpy as np
    import pandas as pd

    from workbench import datamart

    data = np.random.default_rng(0).standard_normal((rows, cols))
    frame = pd.DataFrame(data, columns=[f"f{i}" for i in range(cols)])
    datamart.put("bench", frame, store="local")
    frame.to_parquet(folder / "bench.parquet")
    np.save(folder / "bench.npy", data)
    found: dict[str, Callable[[], Any]] = {
        "datamart local -> pandas": lambda: datamart.get("bench", store="local"),
        "datamart local -> arrow": lambda: datamart.get("bench", as_="arrow", store="local"),
        "datamart local -> numpy": lambda: datamart.get("bench", as_="numpy", store="local"),
    }
    if redis_url is not None:
        datamart.put("bench", frame, store=redis_url)
        found["datamart redis (warm cache) -> pandas"] = lambda: datamart.get("bench", store=redis_url)
        found["datamart redis (warm cache) -> numpy"] = lambda: datamart.get("bench", as_="numpy", store=redis_url)
    found["pandas.read_parquet"] = lambda: pd.read_parquet(folder / "bench.parquet")
    found["numpy.load(mmap_mode='r')"] = lambda: np.load(folder / "bench.npy", mmap_mode="r")
    return found


def measure(candidates: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    for action in candidates.values():  # warm: page cache, Redis read-through cache
        scan(action())
    opened: dict[str, list[float]] = {name: [] for name in candidates}
    scanned: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, action in candidates.items():
            started = time.perf_counter()
            result = action()
            opened[name].append(time.perf_counter() - started)
            scan(result)
            scanned[name].append(time.perf_counter() - started)
            del result
    return {
        name: {"open": statistics.median(opened[name]), "open+scan": statistics.median(scanned[name])}
        for name in candidates
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-bench-datamart-") as tmp:
        folder = Path(tmp)
        os.environ["WORKBENCH_HOME"] = str(folder / "home")
        with redis_server(folder) as redis_url:
            figures = measure(methods(folder, args.rows, args.cols, redis_url), args.repeats)
    floor = figures["numpy.load(mmap_mode='r')"]
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "shape": [args.rows, args.cols],
        "repeats": args.repeats,
        "seconds": figures,
    }
    print(f"{args.rows:,} x {args.cols} float64, median of {args.repeats} interleaved rounds, warm\n")
    print("| method | open | open+scan | open / numpy mmap | open+scan / numpy mmap |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, times in figures.items():
        print(
            f"| {name} | {times['open'] * 1e3:.2f} ms | {times['open+scan'] * 1e3:.1f} ms | "
            f"{times['open'] / floor['open']:.1f}x | {times['open+scan'] / floor['open+scan']:.2f}x |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
