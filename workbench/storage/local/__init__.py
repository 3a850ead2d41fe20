"""The embedded backend (``WORKBENCH_STORE=local``, the default): SQLite in WAL mode and
content-addressed files under the workbench home, shared by the processes of one machine.

Layout under ``<home>/``::

    registry/registry.sqlite3, registry/artifacts/   models (versions, stages, gates; artifacts by SHA-256)
    jobs.sqlite, runs/<run id>/                      runs, schedules; each run's folder and output notebook
    datamarts/<name>/<version>.arrow|.json           datasets
    serving/predictions.sqlite3                      the prediction log
    loop.sqlite3                                     model loops: states, timelines, leases
"""

from __future__ import annotations

from workbench.config import Settings
from workbench.errors import StorageError
from workbench.storage.backend import Storage
from workbench.storage.local.datamarts import LocalDatamartStore
from workbench.storage.local.loop import LocalLoopStore
from workbench.storage.local.models import LocalModelStore
from workbench.storage.local.predictions import LocalPredictionStore
from workbench.storage.local.runs import LocalRunStore
from workbench.storage.prediction_store import Retention


class LocalStorage(Storage):
    """Every store under the settings' home; see the module docstring."""

    scheme = "local"

    def __init__(self, url: str, settings: Settings) -> None:
        if url not in ("local", "local://"):
            raise StorageError(
                f"the local store takes no options: {url!r}",
                hint="set WORKBENCH_HOME to choose where it lives, and WORKBENCH_STORE=local",
            )
        super().__init__(url, settings)
        self.home = settings.home

    def open_models(self) -> LocalModelStore:
        return LocalModelStore(self.home / "registry")

    def open_runs(self) -> LocalRunStore:
        return LocalRunStore(self.home)

    def open_datamarts(self) -> LocalDatamartStore:
        return LocalDatamartStore(self.home / "datamarts")

    def open_predictions(self) -> LocalPredictionStore:
        return LocalPredictionStore(self.home / "serving", Retention.from_settings(self.settings))

    def open_loop(self) -> LocalLoopStore:
        return LocalLoopStore(self.home)


__all__ = ["LocalStorage"]
