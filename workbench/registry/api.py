"""The registry API: register, load (the model factory), list, promote, roll back.

:class:`Registry` works on any :class:`~workbench.registry.store.Store` passed in. The
module-level functions (``wb.register``, ``wb.load_model``, ...) use the registry of
the current settings (``WORKBENCH_STORE``, ``WORKBENCH_HOME``), opened on first use.
"""

from __future__ import annotations

import math
import os
import platform
import threading
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from workbench import run_context
from workbench.config import Settings, load_settings
from workbench.errors import InvalidMetadataError, StoreError
from workbench.names import validate_name
from workbench.plugins import PluginRegistry
from workbench.registry.formats import choose_format, get_format
from workbench.registry.store import Store, check_weight, sha256_hex
from workbench.registry.version import (
    ModelSummary,
    ModelTable,
    ModelVersion,
    PromotionEvent,
    VersionTable,
    utc_now,
    validate_stage,
)

STORES: PluginRegistry[type[Store]] = PluginRegistry("workbench.stores", "store")


def open_store(url: str, settings: Settings | None = None) -> Store:
    """The store a URL names: ``local``, ``memory``, ``redis://host:port/db``, or a plugin's."""
    scheme = url.split("://", 1)[0] if "://" in url else url
    if scheme == "rediss":
        scheme = "redis"
    if not scheme.isidentifier():
        raise StoreError(f"malformed store URL {url!r}", hint="use 'local' or redis://host:port/db")
    return STORES.get(scheme).from_url(url, settings or load_settings())


def check_metadata(
    metrics: Mapping[str, Any] | None, params: Mapping[str, Any] | None, tags: Mapping[str, Any] | None
) -> tuple[dict[str, float], dict[str, Any], dict[str, str]]:
    """Plain-JSON copies of user metadata; raises :class:`InvalidMetadataError` naming the bad entry."""
    import json

    clean_metrics: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidMetadataError(f"metric {key!r} must be a number, not {type(value).__name__}", key=str(key))
        if not math.isfinite(value):
            raise InvalidMetadataError(f"metric {key!r} is {value}; only finite numbers are kept", key=key)
        clean_metrics[key] = float(value)
    clean_tags: dict[str, str] = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidMetadataError(f"tag {key!r} must map a string to a string", key=str(key))
        clean_tags[key] = value
    try:
        clean_params = json.loads(json.dumps(dict(params or {}), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidMetadataError(f"params are not plain JSON: {exc}") from exc
    return clean_metrics, clean_params, clean_tags


def _simple_params(model: Any) -> dict[str, Any]:
    """The model's own top-level hyperparameters that are plain, finite values."""
    get_params = getattr(model, "get_params", None)
    if get_params is None:
        return {}
    plain = (str, int, float, bool, type(None))
    return {
        k: v
        for k, v in get_params(deep=False).items()
        if isinstance(v, plain) and not (isinstance(v, float) and not math.isfinite(v))
    }


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("workbench", "numpy", "scikit-learn"):
        try:
            found[package] = package_version(package)
        except PackageNotFoundError:
            continue
    return found


class Registry:
    """Named, versioned models with metrics and stages, in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(
        self,
        model: Any,
        name: str,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        eval_data: tuple[Any, Any] | None = None,
        stage: str = "dev",
        *,
        format: str | None = None,
        onnx: bool = False,
    ) -> ModelVersion:
        """Store ``model`` as the next version of ``name`` and return that version.

        With ``eval_data=(X, y)`` the classification metrics and a feature profile are
        computed and kept. Given metrics win over computed ones of the same name.
        ``format`` forces a format (``"joblib"`` for objects skops cannot store);
        otherwise the best installed format for the model's type is used.
        ``onnx=True`` also stores an ONNX rendering (extra ``onnx``), kept only if it
        predicts exactly like the model on ``eval_data``, which it then requires.
        The datamart versions this process read (``wb.datamart.datasets_read()``) are kept
        as the version's ``datasets``, its lineage.
        """
        from workbench.datamart.api import datasets_read
        from workbench.registry import evaluation

        validate_name(name, "model name")
        validate_stage(stage)
        user_metrics, clean_params, clean_tags = check_metadata(metrics, params, tags)
        if onnx and eval_data is None:
            raise InvalidMetadataError("onnx=True needs eval_data to check the conversion's predictions")
        run_id = run_context.current_run_id()
        if run_id is not None:
            validate_name(run_id, "run id")
        chosen = get_format(format) if format is not None else choose_format(model)
        saved = chosen.dump(model)
        X = eval_data[0] if eval_data is not None else None
        described = evaluation.describe(model, X)
        computed: dict[str, float] = {}
        report: dict[str, Any] = {}
        feature_profile: dict[str, Any] = {}
        if eval_data is not None:
            computed, report = evaluation.evaluate(model, *eval_data)
            feature_profile = evaluation.profile(X, described["feature_names"])
        extras: dict[str, dict[str, Any]] = {}
        if onnx:
            from workbench.registry import onnx as onnx_module

            onnx_bytes, checked = onnx_module.convert(model, X)
            extras["onnx"] = {
                "sha256": sha256_hex(onnx_bytes),
                "size": len(onnx_bytes),
                "verified_rows": checked,
                # whether the graph's second output is predict_proba's (a server may answer before loading the model)
                "probabilities": hasattr(model, "predict_proba"),
            }
            self.store.put_artifact(extras["onnx"]["sha256"], onnx_bytes)
        draft = ModelVersion(
            name=name,
            version=0,
            stage="dev",
            created_at=utc_now(),
            format=chosen.name,
            size=len(saved.data),
            sha256=sha256_hex(saved.data),
            metrics={**computed, **user_metrics},
            params=clean_params if params is not None else _simple_params(model),
            tags=clean_tags,
            library_versions={**library_versions(), **saved.library_versions},
            run_id=run_id,
            evaluation=report,
            profile=feature_profile,
            format_info=saved.format_info,
            extra_artifacts=extras,
            datasets=datasets_read(),
            **described,
        )
        number = self.store.add_version(name, draft.to_record(), "dev", saved.data)
        run_context.append({"kind": "model", "name": name, "version": number})
        if stage != "dev":
            return self._promote(name, number, stage, action="register")
        return self.store.get_version(name, number)

    def get(self, name: str, *, version: int | None = None, stage: str | None = None) -> ModelVersion:
        """A version's metadata: by number, else the newest at ``stage``, else the newest."""
        return self.store.find(name, version=version, stage=stage)

    def load_model(
        self, name: str, stage: str = "production", *, version: int | None = None, allow_pickle: bool = False
    ) -> Any:
        """The model at ``stage`` (or exactly ``version``), verified and safely rebuilt.

        The artifact's SHA-256 is checked before any byte is deserialized; its format then
        refuses types that were not trusted at registration (:class:`UnsafeModelError`).
        """
        found = self.store.find(name, version=version, stage=None if version is not None else stage)
        return self.load_version(found, allow_pickle=allow_pickle)

    def load_version(self, version: ModelVersion, *, allow_pickle: bool = False) -> Any:
        """Rebuild the model of a version already looked up (verification included)."""
        data = self.store.verified_artifact(version)
        return get_format(version.format).load(data, version, allow_pickle=allow_pickle)

    def load_onnx(self, name: str, stage: str = "production", *, version: int | None = None) -> Any:
        """An ``onnxruntime.InferenceSession`` for the version's verified ONNX artifact."""
        from workbench.registry import onnx as onnx_module

        found = self.store.find(name, version=version, stage=None if version is not None else stage)
        return onnx_module.session(self.store.verified_artifact(found, "onnx"))

    def models(self) -> ModelTable:
        """Every model name with its newest and production versions."""
        summaries = []
        for name in self.store.list_names():
            versions = self.store.list_versions(name)
            if not versions:
                continue
            production = next((v for v in versions if v.stage == "production"), None)
            summaries.append(ModelSummary(name, len(versions), versions[-1], production))
        return ModelTable(summaries)

    def model_versions(self, name: str) -> VersionTable:
        """Every version of ``name``, oldest first."""
        return VersionTable(self.store.versions(name))

    def promote(
        self, name: str, version: int, stage: str, *, force: bool = False, weight: float | None = None
    ) -> ModelVersion:
        """Move a version to ``stage``; promoting to production archives the previous one.

        Promotion to production first runs the model's acceptance gates (declared in
        ``[tool.workbench.acceptance.NAME]`` of the nearest pyproject.toml) and refuses
        with :class:`GateFailedError` when they fail. ``force=True`` promotes anyway; the
        history records the gate's outcome and the bypass. Each gate run is kept with the
        version (:meth:`gate_results`).

        ``stage="challenger"`` with ``weight`` (in (0, 1)) makes ``workbench serve`` send that
        share of the model's traffic to this version (A/B); it archives the previous
        challenger. A challenger answers real requests, so it passes the same gates first.
        """
        return self._promote(name, version, stage, force=force, weight=weight)

    def _promote(
        self,
        name: str,
        version: int,
        stage: str,
        *,
        force: bool = False,
        action: str = "promote",
        weight: float | None = None,
    ) -> ModelVersion:
        if validate_stage(stage) not in ("production", "challenger"):
            return self.store.promote(name, version, stage, action=action, weight=weight)
        target = self.store.find(name, version=version)
        if target.stage == stage and stage == "production":
            return target
        if target.stage == "challenger" and stage == "challenger":
            # only the weight changes: the gates judged this version when it became the challenger
            return self.store.promote(name, version, stage, action=action, weight=weight)
        from workbench.acceptance.gates import promotion_gate

        check_weight(name, version, stage, weight)  # refuse a bad weight before spending time on the gates
        outcome = promotion_gate(self, target, force=force)
        return self.store.promote(name, version, stage, action=action, gate=outcome, forced=force, weight=weight)

    def gate_results(self, name: str, version: int) -> list[dict[str, Any]]:
        """Every acceptance gate run of a version (plain JSON reports), oldest first."""
        found = self.store.find(name, version=version)
        return self.store.gate_results(found.name, found.version)

    def rollback(self, name: str) -> ModelVersion:
        """Return to the production version that the current one replaced."""
        return self.store.rollback(name)

    def history(self, name: str) -> list[PromotionEvent]:
        """Every stage change of ``name``, oldest first."""
        validate_name(name, "model name")
        return self.store.history(name)


_default_lock = threading.Lock()
_default: tuple[tuple[int, str, str], Registry] | None = None


def default_registry() -> Registry:
    """The registry of the current settings, opened once per process and settings."""
    global _default
    settings = load_settings()
    key = (os.getpid(), str(settings.home), settings.store)
    with _default_lock:
        if _default is not None and _default[0] == key:
            return _default[1]
        if _default is not None and _default[0][0] == key[0]:
            _default[1].store.close()
        registry = Registry(open_store(settings.store, settings))
        _default = (key, registry)
        return registry


def register(
    model: Any,
    name: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    eval_data: tuple[Any, Any] | None = None,
    stage: str = "dev",
    *,
    format: str | None = None,
    onnx: bool = False,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``; see :meth:`Registry.register`."""
    return default_registry().register(model, name, metrics, params, tags, eval_data, stage, format=format, onnx=onnx)


def load_model(name: str, stage: str = "production", *, version: int | None = None, allow_pickle: bool = False) -> Any:
    """The model factory: ``load_model(name)`` for production, ``version=N`` for one version."""
    return default_registry().load_model(name, stage, version=version, allow_pickle=allow_pickle)


def models() -> ModelTable:
    """Every registered model with its newest and production versions."""
    return default_registry().models()


def model_versions(name: str) -> VersionTable:
    """Every version of ``name``, oldest first."""
    return default_registry().model_versions(name)


def promote(name: str, version: int, stage: str, *, force: bool = False, weight: float | None = None) -> ModelVersion:
    """Move ``version`` of ``name`` to ``stage``; production and challenger first pass the acceptance gates.

    See :meth:`Registry.promote`; ``force=True`` promotes past failing gates, recorded in the history;
    ``weight`` is a challenger's share of traffic.
    """
    return default_registry().promote(name, version, stage, force=force, weight=weight)


def rollback(name: str) -> ModelVersion:
    """Put back in production the version the current production version replaced."""
    return default_registry().rollback(name)


__all__ = [
    "STORES",
    "Registry",
    "check_metadata",
    "default_registry",
    "library_versions",
    "load_model",
    "model_versions",
    "models",
    "open_store",
    "promote",
    "register",
    "rollback",
]
