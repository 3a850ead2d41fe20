"""One place where workbench keeps things: a backend, and the stores it gives.

A backend is chosen by the scheme of the settings' store URL (``memory``, ``local``,
``redis://`` / ``rediss://``, or a third-party scheme) through the ``workbench.stores``
entry-point group, and opened once by :func:`open_storage`. It gives the stores of one
place, each opened on first use and closed with the backend:

- ``models``: versions, artifacts, stage history and gate results (the registry's);
- ``runs``: notebook runs, their output notebooks, and schedules (the jobs');
- ``datamarts``: named, content-addressed dataset versions;
- ``predictions``: the serving log, with feedback labels and drift inputs;
- ``loop``: each model's loop state, its timeline and the lease of the process acting on it.

A backend implements every ``open_*`` method; one that lacks some is refused when it is
opened, with one error naming what it lacks, never replaced by another store behind the
user's back. A third-party backend is one class and one entry point::

    [project.entry-points."workbench.stores"]
    mydb = "mypackage.storage:MyDbStorage"     # WORKBENCH_STORE=mydb://...
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Self

from workbench.config import Settings, load_settings
from workbench.errors import StorageError
from workbench.plugins import PluginRegistry

if TYPE_CHECKING:
    from workbench.storage.datamart_store import DatamartStore
    from workbench.storage.loop_store import LoopStore
    from workbench.storage.model_store import ModelStore
    from workbench.storage.prediction_store import PredictionStore
    from workbench.storage.run_store import RunStore

KINDS: tuple[str, ...] = ("models", "runs", "datamarts", "predictions", "loop")
"""The stores every backend gives; ``Storage.open_<kind>`` opens one."""


class Storage(ABC):
    """A storage backend: the stores of one place (see the module docstring).

    Subclasses set :attr:`scheme`, check the URL in ``__init__`` (raising
    :class:`StorageError` for a malformed one and :class:`StorageUnavailableError` when the
    place cannot be reached) and implement the ``open_*`` methods. The properties open each
    store once; :meth:`close` closes every store opened, then the backend's own resources.
    """

    scheme: ClassVar[str] = ""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self._stores: dict[str, Any] = {}
        self._lock = threading.RLock()

    @abstractmethod
    def open_models(self) -> ModelStore:
        """The model store of this place."""

    @abstractmethod
    def open_runs(self) -> RunStore:
        """The run store of this place."""

    @abstractmethod
    def open_datamarts(self) -> DatamartStore:
        """The datamart store of this place."""

    @abstractmethod
    def open_predictions(self) -> PredictionStore:
        """The prediction log of this place (retention from ``[tool.workbench.serving]``)."""

    @abstractmethod
    def open_loop(self) -> LoopStore:
        """The loop store of this place."""

    def _store(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._stores:
                self._stores[kind] = getattr(self, f"open_{kind}")()
            return self._stores[kind]

    @property
    def models(self) -> ModelStore:
        store: ModelStore = self._store("models")
        return store

    @property
    def runs(self) -> RunStore:
        store: RunStore = self._store("runs")
        return store

    @property
    def datamarts(self) -> DatamartStore:
        store: DatamartStore = self._store("datamarts")
        return store

    @property
    def predictions(self) -> PredictionStore:
        store: PredictionStore = self._store("predictions")
        return store

    @property
    def loop(self) -> LoopStore:
        store: LoopStore = self._store("loop")
        return store

    def release(self) -> None:  # noqa: B027 - optional hook: most backends share nothing between stores
        """Release what the backend holds beyond its stores (a shared connection)."""

    def close(self) -> None:
        """Close every store opened, then the backend; a later use opens them again."""
        with self._lock:
            opened, self._stores = list(self._stores.values()), {}
            for store in opened:
                store.close()
            self.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


BACKENDS: PluginRegistry[type[Storage]] = PluginRegistry("workbench.stores", "store")


def scheme_of(url: str) -> str:
    """The backend name of a store URL: ``local``, ``memory``, ``redis`` (for redis:// and rediss://), ..."""
    scheme = url.split("://", 1)[0] if "://" in url else url
    if scheme == "rediss":
        scheme = "redis"
    if not scheme.isidentifier():
        raise StorageError(f"malformed store URL {url!r}", hint="use 'local', 'memory' or redis://host:port/db")
    return scheme


def backend_class(url: str) -> type[Storage]:
    """The backend class for ``url``; refuses one that is not a :class:`Storage` or lacks a kind of store."""
    scheme = scheme_of(url)
    found = BACKENDS.get(scheme)
    if not (isinstance(found, type) and issubclass(found, Storage)):
        raise StorageError(
            f"the store plugin {scheme!r} ({found!r}) is not a workbench storage backend",
            hint="a backend subclasses workbench.storage.Storage; upgrade the package that provides it",
        )
    lacking = sorted(kind for kind in KINDS if f"open_{kind}" in getattr(found, "__abstractmethods__", ()))
    if lacking:
        raise StorageError(
            f"the store {scheme!r} ({found.__module__}.{found.__qualname__}) has no {', '.join(lacking)} store",
            hint=f"use a store that keeps {', '.join(KINDS)}: local, redis://host:port/db or memory",
            store=scheme,
            lacking=lacking,
        )
    return found


def open_storage(settings: Settings | None = None, *, url: str | None = None) -> Storage:
    """The backend of ``url`` (default: the store of ``settings``, default :func:`load_settings`).

    Raises :class:`StorageError` for a malformed URL, an unknown or incomplete backend, or data
    written by a newer workbench, and :class:`StorageUnavailableError` when it cannot be reached.
    """
    settings = settings or load_settings()
    url = settings.store if url is None else url
    return backend_class(url)(url, settings)


__all__ = ["BACKENDS", "KINDS", "Storage", "backend_class", "open_storage", "scheme_of"]
