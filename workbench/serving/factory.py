"""The model factory: each production (and challenger) version loaded once, swapped atomically.

A request takes one immutable :class:`~workbench.serving.routing.Route` from
:meth:`ModelFactory.route` (production, challenger, weight), picks its arm from it and
uses only that version, so every response is computed by, and names, exactly one
version. A background thread looks at the store when the store sends a change notice
(Redis pub/sub, see :mod:`workbench.storage.change_notices`) and at the latest every
``reload_seconds`` (the fallback, and the only way on a store without notices); a new version is
loaded (verified, through the registry's one load path) *before* the entry holding it
replaces the old one, by rebinding a single dictionary, so requests in flight finish on
the version they started with.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import MissingDependencyError, ModelNotServedError, WorkbenchError
from workbench.registry.api import Registry
from workbench.serving.engines import OnnxEngine, SklearnEngine, onnx_engine, plain_labels
from workbench.serving.inputs import InputShape
from workbench.serving.routing import Route
from workbench.storage.change_notices import ChangeWatch
from workbench.storage.model_records import ModelVersion

log = logging.getLogger("workbench.serving")


@dataclass(frozen=True)
class ServedModel:
    """One loaded version: its metadata, the input shape it accepts, the engine that answers.

    ``engine`` is ONNX Runtime when the version carries a verified ONNX rendering (and
    onnxruntime is installed), else ``sklearn``, the model itself; rows holding NaN always
    go to ``sklearn`` (see :mod:`workbench.serving.engines`).

    When a process has not imported scikit-learn yet (a server starting), a version with an
    ONNX rendering answers as soon as that is open, and its scikit-learn model loads in a
    background thread through the same verified load path: importing scikit-learn alone
    takes longer than the whole start should. Anything that needs the model (NaN rows,
    the missing-value policy) waits for it; a load that fails is logged and raised there.
    """

    version: ModelVersion
    shape: InputShape
    engine: SklearnEngine | OnnxEngine
    class_keys: tuple[str, ...]
    loading: Future[SklearnEngine] = field(repr=False, compare=False)

    @classmethod
    def load(cls, registry: Registry, version: ModelVersion, *, defer: bool | None = None) -> ServedModel:
        """Load ``version``; ``defer`` the scikit-learn model behind an ONNX rendering (default: when the
        process has not imported scikit-learn yet)."""
        n_features = version.n_features if version.n_features is not None else len(version.feature_names)
        names = tuple(version.feature_names) or tuple(f"x{i}" for i in range(n_features))
        loading: Future[SklearnEngine] = Future()
        rendering = version.extra_artifacts.get("onnx", {})
        if defer is None:
            defer = "sklearn" not in sys.modules
        if defer and isinstance(rendering.get("probabilities"), bool) and version.classes:
            onnx = _onnx(registry, version, np.asarray(version.classes), rendering["probabilities"])
            if onnx is not None:
                args = (registry, version, names, loading)
                threading.Thread(target=_load_sklearn, args=args, name="workbench-model-load", daemon=True).start()
                shape = InputShape(names, n_features, lambda: _allows_nan(loading.result().model))
                return cls(version, shape, onnx, tuple(str(c) for c in version.classes), loading)
        sklearn = SklearnEngine(registry.load_version(version), names)
        loading.set_result(sklearn)
        engine: SklearnEngine | OnnxEngine = sklearn
        if rendering and sklearn.classes.size:
            engine = _onnx(registry, version, sklearn.classes, sklearn.has_proba) or sklearn
        keys = tuple(str(c) for c in plain_labels(sklearn.classes))
        return cls(version, InputShape(names, n_features, _allows_nan(sklearn.model)), engine, keys, loading)

    @property
    def sklearn(self) -> SklearnEngine:
        """The scikit-learn model's engine (waits while it is loading in the background)."""
        return self.loading.result()

    @property
    def model(self) -> Any:
        """The scikit-learn model (waits while it is loading in the background)."""
        return self.sklearn.model

    @property
    def inline(self) -> bool:
        """Whether a request may run on the event loop: ONNX Runtime answers in tens of microseconds,
        less than the hop to a worker thread costs; scikit-learn may take milliseconds, and a model
        still loading in the background must not be waited for there."""
        return isinstance(self.engine, OnnxEngine) and self.loading.done()

    def predict(self, rows: np.ndarray | list[list[float]]) -> tuple[list[Any], list[dict[str, float]] | None]:
        """Predictions for ``rows`` and, when the model has ``predict_proba``, one ``{class: p}`` per row."""
        X = np.asarray(rows, dtype=np.float64)
        engine = self.engine
        if isinstance(engine, OnnxEngine) and np.isnan(X).any():
            engine = self.sklearn  # the input check let NaN through: the model handles missing values
        predictions, probabilities = engine.predict(X)
        if probabilities is None:
            return predictions, None
        keys = self.class_keys
        return predictions, [dict(zip(keys, row, strict=True)) for row in probabilities]


def _onnx(registry: Registry, version: ModelVersion, classes: np.ndarray, has_proba: bool) -> OnnxEngine | None:
    """The version's ONNX engine, or ``None`` (logged) when onnxruntime is missing or cannot open the rendering.

    A rendering whose bytes do not match their digest raises: the version is refused.
    """
    data = registry.store.verified_artifact(version, "onnx")
    try:
        return onnx_engine(data, classes, has_proba)
    except MissingDependencyError as exc:
        log.warning("%s v%s answers through scikit-learn: %s", version.name, version.version, exc)
    except Exception as exc:  # onnxruntime raises its own types for a graph it cannot run
        log.warning(
            "%s v%s answers through scikit-learn: onnxruntime cannot open its ONNX rendering (%s)",
            version.name,
            version.version,
            exc,
        )
    return None


def _load_sklearn(
    registry: Registry, version: ModelVersion, names: tuple[str, ...], loading: Future[SklearnEngine]
) -> None:
    try:
        loading.set_result(SklearnEngine(registry.load_version(version), names))
        freeze_heap()
    except BaseException as exc:  # handed to whoever needs the model; the thread itself must not die silently
        log.error("cannot load the scikit-learn model of %s v%s: %s", version.name, version.version, exc)
        loading.set_exception(exc)


def freeze_heap() -> None:
    """Move every object alive now (libraries, loaded models) out of the cyclic collector's reach.

    A serving process holds hundreds of thousands of objects that live as long as it does;
    every full collection walked them all and stalled the requests in flight (a 100-row
    p99 of 98 ms against 2 ms once frozen). Objects created later are collected as usual.
    """
    gc.freeze()


def _allows_nan(model: Any) -> bool:
    """Whether the model declares it handles NaN inputs (scikit-learn's ``allow_nan`` tag)."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(model).input_tags.allow_nan)
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


class ModelFactory:
    """The production version of each served model, and its challenger, reloaded when a promotion changes them.

    ``names`` restricts serving to those models (each must have a production version at
    start); without it every model with a production version is served, including
    models promoted while the server runs. Each model's versions are held in one
    immutable :class:`~workbench.serving.routing.Route` (production, challenger, weight),
    replaced as a whole, so a request that took one never sees half a swap.
    """

    def __init__(self, registry: Registry, names: Sequence[str] | None = None) -> None:
        self.registry = registry
        self.names = tuple(names) if names else None
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: ChangeWatch | None = None

    def load(self) -> None:
        """Load every served model now; raises when a model named in ``names`` cannot be served."""
        if self.names is not None:
            for name in self.names:
                self.registry.store.find(name, stage="production")
        self.refresh()

    def refresh(self) -> None:
        """Look at the store once and swap in every production version, challenger or weight that changed.

        A version already loaded (same number, digest and stage) is reused, not loaded again.
        A challenger that cannot be loaded is left out (production answers everything).
        """
        with self._lock:
            current = self._routes
            names = self.names if self.names is not None else self.registry.store.list_names()
            updated = dict(current)
            for name in names:
                versions = self.registry.store.list_versions(name)
                production = [v for v in versions if v.stage == "production"]
                if not production:
                    continue
                held = current.get(name)
                loaded = {_identity(s.version): s for _, s in held.arms()} if held is not None else {}
                try:
                    serving = self._served(production[-1], loaded)
                except WorkbenchError as exc:
                    log.error("cannot serve %s v%s: %s", name, production[-1].version, exc)
                    continue
                challenger, weight = None, 0.0
                challengers = [v for v in versions if v.stage == "challenger"]
                if challengers:
                    try:
                        weight = self.registry.store.challenger_weight(name, challengers[-1].version)
                        challenger = self._served(challengers[-1], loaded)
                    except WorkbenchError as exc:
                        log.error("cannot route to challenger %s v%s: %s", name, challengers[-1].version, exc)
                        challenger, weight = None, 0.0
                route = Route(serving, challenger, weight)
                if held is None or _route_identity(held) != _route_identity(route):
                    updated[name] = route
                    shown = f", challenger v{challenger.version.version} at {weight:g}" if challenger else ""
                    log.info("serving %s v%s%s", name, serving.version.version, shown)
            self._routes = updated

    def _served(self, wanted: ModelVersion, loaded: dict[tuple[int, str, str], ServedModel]) -> ServedModel:
        return loaded.get(_identity(wanted)) or ServedModel.load(self.registry, wanted)

    def route(self, name: str) -> Route:
        """The routing entry of ``name`` now; :class:`ModelNotServedError` when the model is not served."""
        found = self._routes.get(name)
        if found is None:
            served = ", ".join(sorted(self._routes)) or "none"
            raise ModelNotServedError(f"no model of that name is served here; served models: {served}")
        return found

    def routes(self) -> list[Route]:
        """Every served model's routing entry, sorted by name."""
        routes = self._routes
        return [routes[name] for name in sorted(routes)]

    def get(self, name: str) -> ServedModel:
        """The production version that answers for ``name`` now; :class:`ModelNotServedError` when none does."""
        return self.route(name).production

    def served(self) -> list[ServedModel]:
        """Every served model's production version, sorted by name."""
        return [route.production for route in self.routes()]

    def start(self, reload_seconds: float) -> None:
        """Look at the store on each change notice and at least every ``reload_seconds``, in a daemon
        thread (0 disables both: the versions loaded at start serve until the process ends)."""
        if reload_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll, args=(reload_seconds,), name="workbench-model-reload", daemon=True
        )
        self._thread.start()
        try:
            self._watch = self.registry.store.watch(self._notice)
        except WorkbenchError as exc:  # no notices now: the poll still swaps within reload_seconds
            log.warning("change notices unavailable, polling every %g s: %s", reload_seconds, exc)

    def _notice(self, name: str | None) -> None:
        if name is None or self.names is None or name in self.names:
            self._wake.set()

    @property
    def watch(self) -> ChangeWatch | None:
        """The store's change-notice subscription, when the store sends notices."""
        return self._watch

    def stop(self) -> None:
        """Stop watching and polling, and wait for the poller to finish its current look."""
        self._stop.set()
        self._wake.set()
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll(self, reload_seconds: float) -> None:
        while True:
            self._wake.wait(reload_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except WorkbenchError as exc:
                # a store outage keeps the current versions serving; the next poll retries
                log.warning("model reload skipped: %s", exc)
            except Exception:
                # anything else must not end the poller silently: hot swaps would stop for good
                log.exception("model reload failed; retrying in %s s", reload_seconds)


def _identity(version: ModelVersion) -> tuple[int, str, str]:
    return version.version, version.sha256, version.stage


def _route_identity(route: Route) -> tuple[Any, ...]:
    challenger = _identity(route.challenger.version) if route.challenger is not None else None
    return _identity(route.production.version), challenger, route.weight


__all__ = ["ModelFactory", "ServedModel"]
