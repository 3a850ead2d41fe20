"""The memory backend (``WORKBENCH_STORE=memory``, or ``memory://NAME`` for a separate place):
every store in this process's memory, for tests and throwaway notebook sessions.

Every open of the same URL in one process gives the same place, so ``wb.register`` and
``wb.load_model`` or a datamart put and get meet; another process (a job's kernel, a
server) sees a place of its own, empty. Nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from workbench.config import Settings
from workbench.errors import StorageError
from workbench.storage.backend import Storage
from workbench.storage.memory.datamarts import MemoryDatamartStore
from workbench.storage.memory.loop import MemoryLoopStore
from workbench.storage.memory.models import MemoryModelStore
from workbench.storage.memory.predictions import MemoryPredictionStore
from workbench.storage.memory.runs import MemoryRunStore
from workbench.storage.prediction_store import Retention

T = TypeVar("T")

_places: dict[str, dict[str, Any]] = {}
_places_lock = threading.Lock()


class MemoryStorage(Storage):
    """Every store in this process's memory; see the module docstring."""

    scheme = "memory"

    def __init__(self, url: str, settings: Settings) -> None:
        super().__init__(url, settings)
        name = url.removeprefix("memory").removeprefix("://")
        if url != "memory" and not (url.startswith("memory://") and name.isidentifier()):
            raise StorageError(f"malformed memory store URL {url!r}", hint="use 'memory' or memory://NAME")
        with _places_lock:
            self._place = _places.setdefault(name, {})

    def _shared(self, kind: str, make: Callable[[], T]) -> T:
        """The place's store of ``kind``, made on first use; its ``close`` is harmless, so every open shares it."""
        with _places_lock:
            if kind not in self._place:
                self._place[kind] = make()
            store: T = self._place[kind]
            return store

    def open_models(self) -> MemoryModelStore:
        return self._shared("models", MemoryModelStore)

    def open_runs(self) -> MemoryRunStore:
        return self._shared("runs", lambda: MemoryRunStore(self.settings.home))

    def open_datamarts(self) -> MemoryDatamartStore:
        return self._shared("datamarts", MemoryDatamartStore)

    def open_predictions(self) -> MemoryPredictionStore:
        retention = Retention.from_settings(self.settings)
        return self._shared("predictions", lambda: MemoryPredictionStore(retention))

    def open_loop(self) -> MemoryLoopStore:
        return self._shared("loop", MemoryLoopStore)


def forget_places() -> None:
    """Empty every memory place of this process (tests start from nothing)."""
    with _places_lock:
        _places.clear()


__all__ = ["MemoryStorage", "forget_places"]
