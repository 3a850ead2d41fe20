"""Damaged bytes: a bad Redis cache file is fetched again, a bad stored file is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.redis_server import RedisServer
from workbench import datamart
from workbench.errors import DatamartError
from workbench.storage.redis_connection import RedisConnection

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_store(redis_server: RedisServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    url = redis_server.url(prefix="dmi" + str(abs(hash(request.node.nodeid)) % 10**12))
    monkeypatch.setenv("WORKBENCH_STORE", url)
    return url


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"x": range(1000), "y": [f"row {i}" for i in range(1000)]})


def _replace_with(path: Path, data: bytes) -> None:
    """Rewrite ``path`` as a new file with a distinct mtime, the way another writer would."""
    before = path.stat().st_mtime_ns
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.utime(tmp, ns=(before - 10**9, before - 10**9))
    os.replace(tmp, path)


def _flip_one_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


def test_a_corrupted_cache_file_is_fetched_again(redis_store: str, isolated_environment: Path) -> None:
    stored = datamart.put("events", _frame())
    pd.testing.assert_frame_equal(datamart.get("events"), _frame())  # fills the cache
    cached = isolated_environment / "datamart-cache" / f"{stored.sha256}.arrow"
    assert cached.is_file()
    _replace_with(cached, _flip_one_byte(cached))
    pd.testing.assert_frame_equal(datamart.get("events"), _frame())
    _replace_with(cached, cached.read_bytes()[:100])  # truncated: not even an Arrow file
    pd.testing.assert_frame_equal(datamart.get("events"), _frame())
    assert datamart.get("events", as_="arrow").num_rows == 1000


def test_a_fresh_process_detects_a_file_damaged_in_place(redis_store: str, isolated_environment: Path) -> None:
    stored = datamart.put("events", _frame())
    datamart.get("events")
    cached = isolated_environment / "datamart-cache" / f"{stored.sha256}.arrow"
    damaged = _flip_one_byte(cached)
    with cached.open("r+b") as fh:  # same inode, same size: only the hash can tell
        fh.write(damaged)
    code = "from workbench import datamart; print(datamart.get('events')['y'].iloc[-1])"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "row 999"


def test_damaged_bytes_in_redis_are_refused(redis_store: str) -> None:
    stored = datamart.put("events", _frame())
    connection = RedisConnection(redis_store)
    try:
        connection.client.set(connection.key("datamart", "data", "events", stored.version), b"not arrow")
    finally:
        connection.close()
    with pytest.raises(DatamartError, match="in Redis do not match their SHA-256"):
        datamart.get("events")


def test_a_damaged_local_file_is_refused(monkeypatch: pytest.MonkeyPatch, isolated_environment: Path) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", "local")
    stored = datamart.put("events", _frame())
    path = isolated_environment / "datamarts" / "events" / f"{stored.version}.arrow"
    _replace_with(path, _flip_one_byte(path))
    with pytest.raises(DatamartError, match="do not match their SHA-256") as info:
        datamart.get("events")
    assert info.value.fields["version"] == stored.version


def test_version_metadata_of_a_newer_schema_is_refused(
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path
) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", "local")
    stored = datamart.put("events", _frame())
    path = isolated_environment / "datamarts" / "events" / f"{stored.version}.json"
    path.write_text(stored.to_json().replace('"schema": 1', '"schema": 2'))
    with pytest.raises(DatamartError, match="schema version 2"):
        datamart.get("events")


@pytest.mark.parametrize(
    "change",
    [{"version": "../../../../x"}, {"name": "../other"}, {"sha256": "0" * 64}, {"name": "other"}],
    ids=["version-traversal", "name-traversal", "hash-not-the-version", "wrong-name"],
)
def test_tampered_metadata_is_refused_before_any_file_is_touched(
    change: dict[str, str], monkeypatch: pytest.MonkeyPatch, isolated_environment: Path
) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", "local")
    stored = datamart.put("events", _frame())
    path = isolated_environment / "datamarts" / "events" / f"{stored.version}.json"
    path.write_text(json.dumps({**json.loads(stored.to_json()), **change}))
    for call in (lambda: datamart.get("events"), lambda: datamart.delete("events")):
        with pytest.raises(DatamartError):
            call()
    assert path.with_suffix(".arrow").is_file()
