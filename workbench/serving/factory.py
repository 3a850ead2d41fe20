"""The model factory: each production version loaded once, swapped atomically when the store changes.

A request takes one :class:`ServedModel` from :meth:`ModelFactory.get` and uses only it,
so every response is computed by, and names, exactly one version. A background thread
polls the store every ``reload_seconds``; a new production version is loaded (verified,
through the registry's one load path) *before* it replaces the old one, by rebinding a
single dictionary, so requests in flight finish on the version they started with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import ModelNotServedError, WorkbenchError
from workbench.registry.api import Registry
from workbench.registry.version import ModelVersion
from workbench.serving.inputs import InputShape

log = logging.getLogger("workbench.serving")


@dataclass(frozen=True)
class ServedModel:
    """One loaded version: its metadata, the model, and the input shape it accepts."""

    version: ModelVersion
    model: Any
    shape: InputShape
    with_frame: bool

    @classmethod
    def load(cls, registry: Registry, version: ModelVersion) -> ServedModel:
        model = registry.load_version(version)
        n_features = version.n_features if version.n_features is not None else len(version.feature_names)
        names = tuple(version.feature_names) or tuple(f"x{i}" for i in range(n_features))
        shape = InputShape(names, n_features, _allows_nan(model))
        return cls(version, model, shape, hasattr(model, "feature_names_in_"))

    def predict(self, rows: list[list[float]]) -> tuple[list[Any], list[dict[str, float]] | None]:
        """Predictions for ``rows`` and, when the model has ``predict_proba``, one ``{class: p}`` per row."""
        import numpy as np

        X: Any = np.asarray(rows, dtype=np.float64)
        if self.with_frame:
            # fitted on a DataFrame: give it the same columns, so it does not warn about names
            import pandas as pd

            X = pd.DataFrame(X, columns=list(self.shape.feature_names))
        predictions = [_plain(p) for p in self.model.predict(X)]
        if not hasattr(self.model, "predict_proba"):
            return predictions, None
        classes = [str(_plain(c)) for c in self.model.classes_]
        probabilities = [dict(zip(classes, map(float, row), strict=True)) for row in self.model.predict_proba(X)]
        return predictions, probabilities


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _allows_nan(model: Any) -> bool:
    """Whether the model declares it handles NaN inputs (scikit-learn's ``allow_nan`` tag)."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(model).input_tags.allow_nan)
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


class ModelFactory:
    """The production version of each served model, reloaded when a promotion changes it.

    ``names`` restricts serving to those models (each must have a production version at
    start); without it every model with a production version is served, including
    models promoted while the server runs.
    """

    def __init__(self, registry: Registry, names: Sequence[str] | None = None) -> None:
        self.registry = registry
        self.names = tuple(names) if names else None
        self._models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        """Load every served model now; raises when a model named in ``names`` cannot be served."""
        if self.names is not None:
            for name in self.names:
                self.registry.store.find(name, stage="production")
        self.refresh()

    def refresh(self) -> None:
        """Look at the store once and swap in every production version that changed."""
        with self._lock:
            current = self._models
            names = self.names if self.names is not None else self.registry.store.list_names()
            updated = dict(current)
            for name in names:
                production = [v for v in self.registry.store.list_versions(name) if v.stage == "production"]
                if not production:
                    continue
                wanted = production[-1]
                held = current.get(name)
                if held is not None and held.version.version == wanted.version and held.version.sha256 == wanted.sha256:
                    continue
                try:
                    updated[name] = ServedModel.load(self.registry, wanted)
                except WorkbenchError as exc:
                    log.error("cannot serve %s v%s: %s", name, wanted.version, exc)
                    continue
                log.info("serving %s v%s", name, wanted.version)
            self._models = updated

    def get(self, name: str) -> ServedModel:
        """The version that answers for ``name`` now; :class:`ModelNotServedError` when none does."""
        found = self._models.get(name)
        if found is None:
            served = ", ".join(sorted(self._models)) or "none"
            raise ModelNotServedError(f"no model of that name is served here; served models: {served}")
        return found

    def served(self) -> list[ServedModel]:
        """Every served model, sorted by name."""
        models = self._models
        return [models[name] for name in sorted(models)]

    def start(self, reload_seconds: float) -> None:
        """Poll the store every ``reload_seconds`` in a daemon thread (0 disables polling)."""
        if reload_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll, args=(reload_seconds,), name="workbench-model-reload", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the poller to finish its current look."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll(self, reload_seconds: float) -> None:
        while not self._stop.wait(reload_seconds):
            try:
                self.refresh()
            except WorkbenchError as exc:
                # a store outage keeps the current versions serving; the next poll retries
                log.warning("model reload skipped: %s", exc)
            except Exception:
                # anything else must not end the poller silently: hot swaps would stop for good
                log.exception("model reload failed; retrying in %s s", reload_seconds)


__all__ = ["ModelFactory", "ServedModel"]
