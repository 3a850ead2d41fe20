"""Serving replicas' reports on every backend: one per replica, replaced by the next, gone after its time to live."""

from __future__ import annotations

import time

import pytest

from workbench.errors import StorageError
from workbench.storage import Storage
from workbench.storage.replica_records import ReplicaReport


def _report(name: str, version: int, rows: int) -> ReplicaReport:
    now = time.time()
    served, counted = {"iris": version}, {f"iris v{version}": rows}
    return ReplicaReport(name, "host", 42, now - 10, now, served, {}, counted, {"iris": rows})


def test_each_replica_keeps_its_newest_report_until_it_expires(storage: Storage) -> None:
    predictions = storage.predictions
    assert predictions.replicas() == []
    predictions.report_replica(_report("eu-2", 1, 5), ttl=30)
    predictions.report_replica(_report("eu-1", 1, 3), ttl=30)
    predictions.report_replica(_report("eu-1", 2, 9), ttl=30)  # replaces eu-1's previous one
    assert [(r.replica, r.serving, r.rows) for r in predictions.replicas()] == [
        ("eu-1", {"iris": 2}, {"iris v2": 9}),
        ("eu-2", {"iris": 1}, {"iris v1": 5}),
    ]
    predictions.report_replica(_report("gone", 1, 1), ttl=0.2)
    deadline = time.monotonic() + 10
    while "gone" in {r.replica for r in predictions.replicas()}:  # a replica that stopped reporting drops out
        assert time.monotonic() < deadline, "the report never expired"
        time.sleep(0.05)
    assert [r.replica for r in predictions.replicas()] == ["eu-1", "eu-2"]


def test_a_replica_name_must_be_printable() -> None:
    with pytest.raises(StorageError, match="replica name"):
        _report("a\nb", 1, 1)
