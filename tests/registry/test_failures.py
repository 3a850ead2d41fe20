"""Failure behaviour: concurrent writers, killed writers, tampered and hostile artifacts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.registry.conftest import corrupt, subprocess_env
from tests.registry.payloads import PickleMarker, SetstateMarker
from workbench.config import load_settings
from workbench.errors import IntegrityError, UnsafeModelError
from workbench.registry import ModelStore, Registry, default_registry

WORKERS = 8
PER_WORKER = 25

REGISTER_LOOP = """
import sys, time
from pathlib import Path
import workbench as wb

worker, count, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
model = {"worker": worker}  # a light payload keeps 8 processes on 2 cores about the store
wb.models()  # open the store before the start line, as a long-lived process would
while not go.exists():
    time.sleep(0.01)
for i in range(count):
    wb.register(model, "contended", tags={"worker": str(worker), "i": str(i)})
"""


@pytest.mark.timeout(180)
def test_concurrent_registrations_get_exactly_versions_1_to_n(shared_store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = subprocess_env(WORKBENCH_HOME=str(load_settings().home), WORKBENCH_STORE=shared_store_url)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER_LOOP, str(w), str(PER_WORKER), str(go)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for w in range(WORKERS)
    ]
    time.sleep(0.5)
    go.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=150)
        assert worker.returncode == 0, err.decode()
    versions = default_registry().model_versions("contended")
    assert [v.version for v in versions] == list(range(1, WORKERS * PER_WORKER + 1))
    written = sorted((int(v.tags["worker"]), int(v.tags["i"])) for v in versions)
    assert written == [(w, i) for w in range(WORKERS) for i in range(PER_WORKER)]


KILL_TARGET = """
import sys
import numpy as np
import workbench as wb

payload = {"weights": np.random.default_rng(0).random(2_000_000)}
wb.models()
print("ready", flush=True)
while True:
    wb.register(payload, "victim")
"""


@pytest.mark.timeout(120)
def test_a_writer_killed_mid_register_leaves_no_half_version(shared_store_url: str) -> None:
    env = subprocess_env(WORKBENCH_HOME=str(load_settings().home), WORKBENCH_STORE=shared_store_url)
    for delay in (0.05, 0.2, 0.35, 0.5):
        with subprocess.Popen([sys.executable, "-c", KILL_TARGET], env=env, stdout=subprocess.PIPE) as child:
            try:
                assert child.stdout is not None and child.stdout.readline() == b"ready\n"
                time.sleep(delay)
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)
    registry = default_registry()
    listed = registry.store.list_versions("victim")
    assert [v.version for v in listed] == list(range(1, len(listed) + 1))
    for version in listed:
        registry.store.verified_artifact(version)
    after = registry.register({"weights": [1.0]}, "victim")
    assert after.version == len(listed) + 1
    assert registry.load_model("victim", version=after.version, allow_pickle=True) == {"weights": [1.0]}


def test_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    import os

    from workbench.storage.local.models import STALE_TEMP_S, LocalModelStore

    LocalModelStore(tmp_path).close()
    folder = tmp_path / "artifacts" / "ab"
    folder.mkdir()
    stale, fresh = folder / ".abc.1.tmp", folder / ".abc.2.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    LocalModelStore(tmp_path).close()
    assert not stale.exists() and fresh.exists()


def test_one_flipped_byte_is_refused_before_deserialization(registry: Registry, model: Any) -> None:
    version = registry.register(model, "churn")
    data = bytearray(registry.store.read_artifact(version.sha256))
    data[len(data) // 2] ^= 0x01
    corrupt(registry.store, version.sha256, bytes(data))
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        registry.load_model("churn", version=1)


def test_swapped_artifact_is_refused_before_any_code_runs(registry: Registry, tmp_path: Path) -> None:
    import skops.io as sio

    allowed, smuggled = tmp_path / "allowed", tmp_path / "smuggled"
    version = registry.register(SetstateMarker(str(allowed)), "hostile", format="skops")
    assert version.format_info["trusted_types"] == ["tests.registry.payloads.SetstateMarker"]
    original = registry.store.read_artifact(version.sha256)
    corrupt(registry.store, version.sha256, sio.dumps(SetstateMarker(str(smuggled))))
    with pytest.raises(IntegrityError):
        registry.load_model("hostile", version=1)
    assert not smuggled.exists()
    # The same kind of object, registered on purpose, does run its code once its hash matches:
    corrupt(registry.store, version.sha256, original)
    registry.load_model("hostile", version=1)
    assert allowed.exists()


def _plant(store: ModelStore, name: str, data: bytes, fmt: str, format_info: dict[str, Any]) -> None:
    """Publish a crafted version straight through the store, bypassing register()."""
    from workbench.storage.model_store import sha256_hex

    record = {
        "created_at": "2026-01-01T00:00:00+00:00",
        "format": fmt,
        "size": len(data),
        "sha256": sha256_hex(data),
        "format_info": format_info,
    }
    store.add_version(name, record, "production", data)


def test_crafted_skops_payload_is_refused_naming_the_type(registry: Registry, tmp_path: Path) -> None:
    import skops.io as sio

    marker = tmp_path / "marker"
    _plant(registry.store, "hostile", sio.dumps(SetstateMarker(str(marker))), "skops", {"trusted_types": []})
    with pytest.raises(UnsafeModelError, match=r"tests\.registry\.payloads\.SetstateMarker") as info:
        registry.load_model("hostile")
    assert info.value.types == ["tests.registry.payloads.SetstateMarker"]
    assert not marker.exists()


def test_crafted_pickle_payload_is_refused_with_no_side_effect(registry: Registry, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "marker"
    payload = pickle.dumps(PickleMarker(str(marker)))
    _plant(registry.store, "as-joblib", payload, "joblib", {})
    _plant(registry.store, "as-skops", payload, "skops", {"trusted_types": []})
    with pytest.raises(UnsafeModelError, match="stored with joblib"):
        registry.load_model("as-joblib")
    with pytest.raises(UnsafeModelError, match="not a skops file"):
        registry.load_model("as-skops")
    assert not marker.exists()
    # The payload is real: with the explicit opt-in it runs, which is why it is opt-in.
    registry.load_model("as-joblib", allow_pickle=True)
    assert marker.exists()
