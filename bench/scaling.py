"""Beyond one machine, simulated on this one: schedulers that fail over, replicas that swap.

Each "host" is a process tree with its own working folder, HOME and workbench home; the hosts
share only a redis-server of the bench's own. Three parts:

- ``failover``: two ``workbench scheduler`` processes over shared schedules until ``--ticks``
  due times are recorded; the one holding a lease is SIGKILLed when half are. Checks that
  every due time was run exactly once or recorded skipped (the notebooks log each execution),
  and measures the takeover (kill -> the lost run marked ``runner_lost``) and the resumption
  (kill -> the survivor's first run of a schedule the killed one held).
- ``throughput``: succeeded jobs per minute with 1 and with 2 schedulers, schedules always due.
- ``swap``: two ``workbench serve`` replicas; ``--promotions`` promotions; per promotion and
  replica, the delay from the stage change to the first answer naming the new version (Redis:
  change notices; ``local``: the poll).

Writes bench/results/scaling.json and prints the figures.
Usage: python bench/scaling.py [--parts failover,throughput,swap] [--ticks 300] [--promotions 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' hosts and redis-server helpers

from tests.hosts import Host, exec_log_notebook, failover_report, owner_pid, wait_for
from tests.redis_server import RedisServer, start_redis

RESULTS = Path(__file__).parent / "results" / "scaling.json"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def _schedules(store: Any, notebook: Path, exec_log: Path, names: list[str], cron: str, pause: float) -> None:
    from workbench.storage.schedule_records import Schedule

    created = datetime.now(UTC).isoformat()
    for name in names:
        parameters = {"log": str(exec_log), "pause": pause}
        store.save_schedule(Schedule(name, str(notebook), cron, parameters, created_at=created))


def failover(redis: RedisServer, folder: Path, ticks: int, lease: float, schedules: int, cron: str) -> dict[str, Any]:
    from workbench.storage import open_storage

    url = redis.url(prefix="failover")
    names = [f"job-{i}" for i in range(schedules)]
    notebook = exec_log_notebook(folder / "shared" / "job.ipynb")
    exec_log = folder / "shared" / "executed.log"
    with open_storage(url=url) as storage:
        store = storage.runs
        _schedules(store, notebook, exec_log, names, cron, 0.2)
        hosts = [Host(n, folder / n, url) for n in ("host-a", "host-b")]
        processes = [h.start("scheduler", "--lease", str(lease)) for h in hosts]
        pids = {p.pid for p in processes}
        started = time.monotonic()

        def recorded() -> int:
            return sum(len(store.ticks(n, limit=10_000)) for n in names)

        wait_for(lambda: recorded() >= ticks // 2, 3600, "half the ticks")
        victim = wait_for(
            lambda: next((owner_pid(x.owner) for x in store.leases() if owner_pid(x.owner) in pids), None),
            120,
            "a lease held while a run is going",
        )
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        wait_for(lambda: recorded() >= ticks, 3600, f"{ticks} ticks")
        elapsed = time.monotonic() - started
        for host in hosts:
            host.stop()
        report = failover_report(store, names, cron, exec_log, killed_at, victim)
    return {**report.to_dict(), "lease_s": lease, "schedules": schedules, "cron": cron, "seconds": elapsed}


def throughput(redis: RedisServer, folder: Path, schedulers: int, seconds: float, schedules: int) -> dict[str, Any]:
    """Succeeded runs per minute over ``seconds`` with schedules due every second."""
    from workbench.storage import open_storage

    url = redis.url(prefix=f"throughput{schedulers}")
    names = [f"job-{i}" for i in range(schedules)]
    notebook = exec_log_notebook(folder / "shared" / "job.ipynb")
    exec_log = folder / "shared" / f"executed-{schedulers}.log"
    with open_storage(url=url) as storage:
        hosts = [Host(f"t{schedulers}-{i}", folder / f"t{schedulers}-{i}", url) for i in range(schedulers)]
        for host in hosts:
            host.start("scheduler", "--lease", "10")
        time.sleep(5)  # kernels started ahead of time, as a running scheduler has them
        _schedules(storage.runs, notebook, exec_log, names, "* * * * * *", 0.0)
        begin = time.time()
        time.sleep(seconds)
        end = time.time()
        for host in hosts:
            host.stop()
        runs = [r for r in storage.runs.list_runs(limit=100_000) if r.status == "succeeded" and r.ended_at]
        done = [r for r in runs if begin <= datetime.fromisoformat(r.ended_at).timestamp() <= end]  # type: ignore[arg-type]
        ticks = [t for n in names for t in storage.runs.ticks(n, limit=100_000)]
    return {
        "schedulers": schedulers,
        "seconds": seconds,
        "succeeded": len(done),
        "jobs_per_minute": len(done) * 60.0 / (end - begin),
        "skipped": sum(t.outcome == "skipped" for t in ticks),
    }


def _serve(host: Host, name: str, reload_seconds: float) -> str:
    host.start("serve", "--port", "0", "--replica-name", name, "--reload-seconds", str(reload_seconds),
               extra_env={"WORKBENCH_TOKEN": "bench-token"})
    return wait_for(lambda: (m := LISTENING.search(host.output("serve"))) and m.group(1), 120, f"{name} to listen")


def _version(client: Any) -> int:
    return int(client.post("/v1/models/iris/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}).json()["version"])


def _first_answer(client: Any, target: int, start: float, seen: dict[int, float], n: int) -> None:
    """Ask until the answer names ``target``; its delay from ``start`` goes in ``seen[n]``."""
    while time.monotonic() - start < 60:
        if _version(client) == target:
            seen[n] = time.monotonic() - start
            return


def swap(redis: RedisServer | None, folder: Path, promotions: int, reload_seconds: float) -> dict[str, Any]:
    """Delay from each promotion to each replica's first answer naming the new version."""
    import httpx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from workbench.registry.api import Registry
    from workbench.storage import open_storage

    url = redis.url(prefix="swap") if redis else "local"
    shared_home = folder / "local-store"  # the local store: one machine's home shared by both replicas
    env_home = {"WORKBENCH_HOME": str(shared_home)} if redis is None else {}
    X, y = load_iris(return_X_y=True)
    from workbench.config import load_settings

    settings = load_settings(home=shared_home if redis is None else folder / "bench-home", environ={})
    storage = open_storage(settings, url=url)
    registry = Registry(storage.models)
    first = registry.register(LogisticRegression(max_iter=2000).fit(X, y), "iris", eval_data=(X, y))
    registry.record_stage("iris", first.version, "production")
    candidates = [
        registry.register(LogisticRegression(C=c, max_iter=2000).fit(X, y), "iris", eval_data=(X, y)).version
        for c in (0.5, 0.1)
    ]
    hosts = [Host(n, folder / n, url, shared=env_home) for n in ("replica-a", "replica-b")]
    addresses = [_serve(h, h.name, reload_seconds) for h in hosts]
    clients = [httpx.Client(base_url=a, timeout=30) for a in addresses]
    for client in clients:
        wait_for(lambda c=client: _version(c) == first.version, 60, "the first version")
    time.sleep(1.0)  # subscriptions live
    delays: list[float] = []
    spacing = random.Random(0)
    for i in range(promotions):
        time.sleep(spacing.uniform(0.0, 1.0))  # promotions at random phases of the replicas' polls
        target = candidates[i % 2]
        seen: dict[int, float] = {}
        start = time.monotonic()
        registry.record_stage("iris", target, "production")
        threads = [
            threading.Thread(target=_first_answer, args=(client, target, start, seen, n))
            for n, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        delays += [seen.get(n, float("inf")) for n in range(len(clients))]
    for client in clients:
        client.close()
    for host in hosts:
        host.stop()
    storage.close()
    ordered = sorted(delays)
    return {
        "store": "redis (change notices)" if redis else f"local (poll every {reload_seconds:g} s)",
        "promotions": promotions,
        "replicas": len(hosts),
        "median_s": statistics.median(ordered),
        "p99_s": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "max_s": ordered[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="failover,throughput,swap")
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--schedules", type=int, default=4)
    parser.add_argument("--cron", default="* * * * * */2", help="the failover schedules' cron (6 fields: seconds)")
    parser.add_argument("--seconds", type=float, default=60.0, help="throughput: seconds per scheduler count")
    parser.add_argument("--promotions", type=int, default=50)
    parser.add_argument("--poll", type=float, default=1.0, help="swap on the local store: --reload-seconds")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    report: dict[str, Any] = {"load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["WORKBENCH_HOME"] = str(folder / "bench-home")
        redis = start_redis(folder / "redis")
        try:
            if "failover" in parts:
                report["failover"] = failover(redis, folder / "failover", args.ticks, args.lease, args.schedules,
                                              args.cron)
                print("failover:", json.dumps(report["failover"], indent=2))
            if "throughput" in parts:
                report["throughput"] = [throughput(redis, folder / f"tp{n}", n, args.seconds, args.schedules)
                                        for n in (1, 2)]
                print("throughput:", json.dumps(report["throughput"], indent=2))
            if "swap" in parts:
                report["swap"] = [swap(redis, folder / "swap-redis", args.promotions, 30.0),
                                  swap(None, folder / "swap-local", max(10, args.promotions // 5), args.poll)]
                print("swap:", json.dumps(report["swap"], indent=2))
        finally:
            redis.stop()
    report["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    RESULTS.write_text(json.dumps({**previous, **report}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
