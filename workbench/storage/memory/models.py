"""The model store of the memory backend: the contract, kept in dicts."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from workbench.errors import IntegrityError, ModelNotFoundError
from workbench.storage.model_records import ModelVersion, PromotionEvent
from workbench.storage.model_store import ModelStore


class MemoryModelStore(ModelStore):
    """Everything in this process's memory, guarded by one lock; gone when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, list[ModelVersion]] = {}
        self._artifacts: dict[str, bytes] = {}
        self._history: dict[str, list[PromotionEvent]] = {}
        self._gates: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def add_version(self, name: str, record: Mapping[str, Any], stage: str, artifact: bytes) -> int:
        with self._lock:
            self._artifacts[record["sha256"]] = bytes(artifact)
            versions = self._versions.setdefault(name, [])
            number = len(versions) + 1
            versions.append(ModelVersion.from_record(name, number, stage, record))
            return number

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self._lock:
            versions = self._versions.get(name, [])
            if not 1 <= version <= len(versions):
                raise ModelNotFoundError(f"model {name!r} has no version {version}", model=name, version=version)
            return versions[version - 1]

    def list_versions(self, name: str) -> list[ModelVersion]:
        with self._lock:
            return list(self._versions.get(name, []))

    def list_names(self) -> list[str]:
        with self._lock:
            return sorted(self._versions)

    def put_artifact(self, sha256: str, data: bytes) -> None:
        with self._lock:
            self._artifacts[sha256] = bytes(data)

    def read_artifact(self, sha256: str) -> bytes:
        with self._lock:
            if sha256 not in self._artifacts:
                raise IntegrityError(f"artifact {sha256[:12]}… is missing from the store")
            return self._artifacts[sha256]

    def apply_stages(
        self, name: str, expected: Mapping[int, str], changes: Mapping[int, str], event: PromotionEvent
    ) -> bool:
        with self._lock:
            versions = self._versions.get(name, [])
            if any(versions[v - 1].stage != stage for v, stage in expected.items()):
                return False
            for number, stage in changes.items():
                versions[number - 1] = versions[number - 1].with_stage(stage)
            self._history.setdefault(name, []).append(event)
            return True

    def history(self, name: str) -> list[PromotionEvent]:
        with self._lock:
            return list(self._history.get(name, []))

    def add_gate_result(self, name: str, version: int, record: Mapping[str, Any]) -> None:
        with self._lock:
            self._gates.setdefault((name, version), []).append(json.loads(json.dumps(record)))

    def gate_results(self, name: str, version: int) -> list[dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self._gates.get((name, version), [])))


__all__ = ["MemoryModelStore"]
