"""The closed loop, end to end with real processes, and the online comparison's false decisions.

**Simulation** (``--runs`` times, seeds 0, 1, ...): a throwaway project with a loop policy
(retrain on drift of 3+ features, on the newest datamart version; challenger at 50%;
decide on macro F1 at 95% with 100 labels per arm) and its gates; a production model
trained on the first 600 rows of a seeded :class:`ShiftingStream` whose concept shifts at
row 1200; a real ``workbench serve`` and a real ``workbench loop --interval 0.5``; a client
replaying the stream at a fixed rate (``--rate`` rows/s, 10 rows a request) with feedback,
putting each labelled batch of 200 rows as the dataset's next version. Measures the time and
the rows from the first shifted row served to the promotion decision and to the promotion,
and production's live macro F1 (the rows production answered) before the shift, after it,
and after the promotion. With ``--store redis`` the store is a redis-server of the bench's
own, and ``--outage S`` stops it for S seconds once the challenger runs: the loop must go on
to the same decision, with every event recorded before the outage still there.

**A/A tests** (``--aa`` of them): two arms of equal accuracy (0.85, balanced labels) fed one
label each per step up to ``--labels`` per arm, compared after every step. Counts the tests
in which the comparison ever decided (a false decision): workbench's confidence sequences
(on macro F1, as the loop decides, and on accuracy), against a two-proportion z-test on
accuracy at 95% looked at after every step from 30 labels on (peeking) and once at the end
(its nominal rate).
No open-source peer closes this loop on one machine, so the peers are the statistical ones.

Usage: python bench/loop.py [--runs 3] [--aa 200] [--store local|redis] [--outage 0]
Writes bench/results/loop.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "notebooks" / "loop-train.ipynb"
SHIFT_AT = 1200
BATCH = 200
TOKEN = "bench-loop-token"

POLICY = f"""
[tool.workbench.loop.sim]
notebook = "{TRAIN}"
dataset = "sim"
on_drift = {{ psi = 0.25, features = 3, min_rows = 300 }}
challenger_weight = 0.5
decide = {{ metric = "f1", min_labels = 100, confidence = 0.95 }}
cooldown = "1h"

[tool.workbench.acceptance.sim]
holdout = "datamart:sim"
target = "target"
f1_macro = 0.55

[tool.workbench.serving]
drift_rows = 600
drift_sample = 1.0
"""


def _start(command: list[str], folder: Path, pattern: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    out = folder / f"{command[0]}-{time.monotonic_ns()}.out"
    with out.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "workbench.cli", *command], stdout=sink,
                                   stderr=subprocess.STDOUT, cwd=folder, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(pattern, out.read_text())
        if found:
            return process, found.group(0)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{' '.join(command)} did not start:\n{out.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Redis:
    """A redis-server of the bench's own, persisting every write (``appendfsync always``)."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise SystemExit("--store redis needs redis-server")
        self.process = subprocess.Popen([executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                         str(self.folder), "--save", "", "--appendonly", "yes", "--appendfsync",
                                         "always"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):  # not "-LOADING": the data is back
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def simulate(seed: int, rate: float, store: str, outage: float) -> dict[str, Any]:
    """One run of the closed loop; see the module docstring."""
    import workbench as wb
    from workbench.errors import StorageUnavailableError
    from workbench.lifecycle.loop.simulation import Replay, ShiftingStream, f1_macro
    from workbench.registry.api import default_registry
    from workbench.storage import open_storage

    folder = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    redis = None
    try:
        (folder / "pyproject.toml").write_text(POLICY)
        url = "local"
        if store == "redis":
            redis = Redis(folder / "redis")
            (folder / "redis").mkdir()
            redis.start()
            url = f"redis://127.0.0.1:{redis.port}/0?prefix=bench&timeout=1"
        os.environ.update(WORKBENCH_HOME=str(folder / ".workbench"), WORKBENCH_STORE=url, WORKBENCH_TOKEN=TOKEN)
        os.chdir(folder)
        stream = ShiftingStream(seed=seed, shift_at=SHIFT_AT)
        from sklearn.linear_model import LogisticRegression

        wb.datamart.put("sim", stream.frame(0, 600))
        frame = wb.datamart.get("sim")
        X, y = frame.drop(columns="target"), frame["target"]
        first = wb.register(LogisticRegression(max_iter=1000).fit(X, y), "sim", eval_data=(X, y)).version
        default_registry().record_stage("sim", first, "production")
        env = dict(os.environ)
        serve, line = _start(["serve", "--port", "0", "--reload-seconds", "0.3"], folder,
                             r"listening on http://127\.0\.0\.1:\d+", env)
        loop, _ = _start(["loop", "--interval", "0.5", "--lease", "5"], folder, "watching sim", env)
        replay = Replay(line.removeprefix("listening on "), TOKEN, "sim", stream)

        def events(kind: str) -> list[Any]:
            try:
                with open_storage() as storage:
                    return [e for e in storage.loop.events("sim") if e.kind == kind]
            except StorageUnavailableError:
                return []

        shift_seen = outage_seconds = None
        recorded_before_outage: list[Any] = []
        row, promoted_at_row = 600, None
        try:
            while row < 12_000:
                started = time.monotonic()
                if row == SHIFT_AT:
                    shift_seen = time.time()
                replay.send(row, BATCH, per_request=10)
                wb.datamart.put("sim", stream.frame(row, BATCH))
                row += BATCH
                if outage and outage_seconds is None and redis is not None and events("challenger"):
                    with open_storage() as storage:
                        recorded_before_outage = storage.loop.events("sim")
                    redis.stop()
                    down = time.monotonic()
                    time.sleep(outage)
                    redis.start()
                    outage_seconds = time.monotonic() - down
                if promoted_at_row is None and events("promoted"):
                    promoted_at_row = row
                if promoted_at_row is not None and row >= promoted_at_row + 3 * BATCH:
                    break
                time.sleep(max(0.0, BATCH / rate - (time.monotonic() - started)))
        finally:
            _stop(loop)
            _stop(serve)
        with open_storage() as storage:
            timeline = storage.loop.events("sim")
        kinds = [e.kind for e in timeline]
        decision = next(e for e in timeline if e.kind == "decision")
        promoted = next(e for e in timeline if e.kind == "promoted")
        new = promoted.evidence["version"]
        answered = replay.answered
        production = [r for r in answered if r.arm == "production"]
        assert shift_seen is not None
        at = {e.kind: datetime.fromisoformat(e.at).timestamp() for e in reversed(timeline)}  # first of each kind
        return {
            "seed": seed,
            "timeline": kinds,
            "stages_s": {
                "shift to trigger": at["trigger"] - shift_seen,
                "training job": at["retrained"] - at["retrain"],
                "gates": at["challenger"] - at["retrained"],
                "challenge": at["decision"] - at["challenger"],
                "promotion (gates again)": at["promoted"] - at["decision"],
            },
            "trigger": timeline[0].summary,
            "shift_to_decision_s": datetime.fromisoformat(decision.at).timestamp() - shift_seen,
            "shift_to_promotion_s": datetime.fromisoformat(promoted.at).timestamp() - shift_seen,
            "labels_at_decision": {k: decision.evidence["evidence"][f"n_{k}"] for k in ("production", "challenger")},
            "difference_at_decision": decision.evidence["evidence"]["difference"],
            "f1_before_shift": f1_macro([r for r in production if r.index < SHIFT_AT]),
            "f1_after_shift": f1_macro([r for r in production if r.index >= SHIFT_AT and r.version == first]),
            "f1_after_promotion": f1_macro([r for r in production if r.version == new]),
            "outage_s": outage_seconds,
            "outage_lost_events": (
                [e.seq for e in recorded_before_outage if e not in timeline] if recorded_before_outage else None
            ),
        }
    finally:
        os.chdir(ROOT)
        if redis is not None:
            redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


SEQUENCES = (("confidence sequence, F1 (the loop)", "f1"), ("confidence sequence, accuracy", "accuracy"))
UNDECIDED = "undecided"
PEEK_FROM = 30
"""Labels per arm before the peeking z-test looks (its normal approximation needs some)."""


def _z_decides(a: int, b: int, n: int) -> bool:
    """A two-proportion z-test at 95% (two-sided) on ``a`` and ``b`` successes of ``n`` each."""
    pooled = (a + b) / (2 * n)
    if pooled in (0.0, 1.0):
        return False
    z = (a / n - b / n) / math.sqrt(2 * pooled * (1 - pooled) / n)
    return abs(z) > 1.959964


def aa_tests(tests: int, labels: int, confidence: float, seed: int = 0) -> dict[str, Any]:
    """False decisions of the online comparison and of a peeked z-test, over A/A tests."""
    from workbench.lifecycle.loop.sequential import Counts, compare

    rng = random.Random(seed)
    decided = {"confidence sequence, F1 (the loop)": 0, "confidence sequence, accuracy": 0,
               "z-test, accuracy, peeking after every label": 0, "z-test, accuracy, once at the end": 0}
    started = time.perf_counter()
    for _ in range(tests):
        counts: list[list[Any]] = [[0, 0, {"0": [0, 0, 0], "1": [0, 0, 0]}] for _ in range(2)]
        hit = {key: False for key in decided}
        for n in range(1, labels + 1):
            for arm in counts:
                truth = rng.choice("01")
                predicted = truth if rng.random() < 0.85 else ("1" if truth == "0" else "0")
                arm[0] += 1
                table = arm[2]
                if truth == predicted:
                    arm[1] += 1
                    table[truth][0] += 1
                else:
                    table[predicted][1] += 1
                    table[truth][2] += 1
            arms = [Counts(a[0], a[1], {c: tuple(v) for c, v in a[2].items()}) for a in counts]
            for key, metric in SEQUENCES:
                if not hit[key]:
                    hit[key] = compare(arms[0], arms[1], metric=metric, confidence=confidence).verdict != UNDECIDED
            peeking = "z-test, accuracy, peeking after every label"
            if n >= PEEK_FROM and not hit[peeking] and _z_decides(counts[0][1], counts[1][1], n):
                hit[peeking] = True
        hit["z-test, accuracy, once at the end"] = _z_decides(counts[0][1], counts[1][1], labels)
        for key, value in hit.items():
            decided[key] += value
    return {
        "tests": tests,
        "labels_per_arm": labels,
        "confidence": confidence,
        "false_decision_rate": {key: n / tests for key, n in decided.items()},
        "bound": 1 - confidence,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="simulation runs (default 3)")
    parser.add_argument("--rate", type=float, default=400.0, help="rows per second replayed (default 400)")
    parser.add_argument("--store", choices=["local", "redis"], default="local")
    parser.add_argument("--outage", type=float, default=0.0, help="with --store redis: seconds Redis is stopped")
    parser.add_argument("--aa", type=int, default=200, help="A/A tests (default 200)")
    parser.add_argument("--labels", type=int, default=2000, help="labels per arm in each A/A test (default 2000)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "loop.json"))
    args = parser.parse_args()

    runs = [simulate(seed, args.rate, args.store, args.outage) for seed in range(args.runs)]
    aa = aa_tests(args.aa, args.labels, 0.95) if args.aa else None

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()[0]},
        "store": args.store,
        "rate_rows_per_s": args.rate,
        "runs": runs,
        "median": {key: median(key) for key in ("shift_to_decision_s", "shift_to_promotion_s", "f1_before_shift",
                                                "f1_after_shift", "f1_after_promotion")},
        "aa": aa,
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n## Closed loop ({args.runs} runs, {args.store} store, {args.rate:g} rows/s)\n")
    print("| run | trigger | shift -> decision | shift -> promotion | labels at decision (prod / chal) | "
          "F1 before shift | after shift | after promotion |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        labels = r["labels_at_decision"]
        print(f"| {r['seed']} | {r['trigger'].split(':')[0]} | {r['shift_to_decision_s']:.1f} s | "
              f"{r['shift_to_promotion_s']:.1f} s | {labels['production']} / {labels['challenger']} | "
              f"{r['f1_before_shift']:.3f} | {r['f1_after_shift']:.3f} | {r['f1_after_promotion']:.3f} |")
        if r["outage_s"]:
            print(f"|   | Redis stopped {r['outage_s']:.0f} s during the challenge; events lost: "
                  f"{len(r['outage_lost_events'])} | | | | | | |")
    m = result["median"]
    print(f"| median | | {m['shift_to_decision_s']:.1f} s | {m['shift_to_promotion_s']:.1f} s | | "
          f"{m['f1_before_shift']:.3f} | {m['f1_after_shift']:.3f} | {m['f1_after_promotion']:.3f} |")
    print("\nWhere the time goes (median of the runs):\n")
    print("| stage | seconds |")
    print("| --- | ---: |")
    for stage in runs[0]["stages_s"]:
        print(f"| {stage} | {statistics.median(r['stages_s'][stage] for r in runs):.1f} |")
    if aa:
        print(f"\n## A/A tests ({aa['tests']} tests, up to {aa['labels_per_arm']} labels per arm, looked at after "
              f"every label, confidence {aa['confidence']})\n")
        print("| comparison | false decisions |")
        print("| --- | ---: |")
        for key, rate in aa["false_decision_rate"].items():
            print(f"| {key} | {rate:.1%} |")
        print(f"\nbound: {aa['bound']:.0%}; {aa['seconds']:.0f} s")


if __name__ == "__main__":
    main()
