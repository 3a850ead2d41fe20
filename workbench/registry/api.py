"""The registry API: register, load (the model factory), list, record stage changes, roll back.

:class:`Registry` works on any :class:`~workbench.storage.model_store.ModelStore` passed in.
The module-level functions (``wb.load_model``, ``wb.models``, ...) use the registry of the
current settings (``WORKBENCH_STORE``, ``WORKBENCH_HOME``), opened on first use. Promotion
to production or challenger passes the acceptance gates first: that is a lifecycle step
(:mod:`workbench.lifecycle.promotion`) above the registry, which only records stage changes.
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
from workbench.config import load_settings
from workbench.errors import InvalidMetadataError, StageError
from workbench.names import validate_name
from workbench.registry.formats import choose_format, get_format
from workbench.registry.version import ModelSummary, ModelTable, VersionTable
from workbench.storage import Storage, open_storage
from workbench.storage.model_records import ModelVersion, PromotionEvent, utc_now, validate_stage
from workbench.storage.model_store import ModelStore, sha256_hex

GATED_STAGES = ("production", "challenger")
"""Stages a version reaches only through the acceptance gates (:func:`workbench.lifecycle.promotion.promote`)."""


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

    def __init__(self, store: ModelStore) -> None:
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
        as the version's ``datasets``, its lineage. ``stage`` may be dev, staging or archived;
        production and challenger are reached through the gates, with ``wb.register`` or
        :func:`workbench.lifecycle.promotion.promote`.
        """
        from workbench.datamart.api import datasets_read
        from workbench.registry import evaluation

        validate_name(name, "model name")
        if validate_stage(stage) in GATED_STAGES:
            raise StageError(
                f"a version reaches {stage} through the acceptance gates, not by registering it there",
                hint=f"wb.register(model, {name!r}, stage={stage!r}) registers and promotes it through the gates",
                model=name,
                stage=stage,
            )
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
            return self.record_stage(name, number, stage, action="register")
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

    def record_stage(
        self,
        name: str,
        version: int,
        stage: str,
        *,
        action: str = "promote",
        gate: str | None = None,
        forced: bool = False,
        weight: float | None = None,
    ) -> ModelVersion:
        """Record that ``version`` of ``name`` moves to ``stage`` (see :meth:`ModelStore.promote`).

        Nothing is checked beyond the stage rules: a move to production or challenger is
        judged by the acceptance gates before this is called
        (:func:`workbench.lifecycle.promotion.promote`), and ``gate`` and ``forced`` record
        that judgement in the history.
        """
        return self.store.promote(name, version, stage, action=action, gate=gate, forced=forced, weight=weight)

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
_default: tuple[tuple[int, str, str], Storage, Registry] | None = None


def default_registry() -> Registry:
    """The registry of the current settings, opened once per process and settings."""
    global _default
    settings = load_settings()
    key = (os.getpid(), str(settings.home), settings.store)
    with _default_lock:
        if _default is not None and _default[0] == key:
            return _default[2]
        if _default is not None and _default[0][0] == key[0]:
            _default[1].close()
        storage = open_storage(settings)
        registry = Registry(storage.models)
        _default = (key, storage, registry)
        return registry


def load_model(name: str, stage: str = "production", *, version: int | None = None, allow_pickle: bool = False) -> Any:
    """The model factory: ``load_model(name)`` for production, ``version=N`` for one version."""
    return default_registry().load_model(name, stage, version=version, allow_pickle=allow_pickle)


def models() -> ModelTable:
    """Every registered model with its newest and production versions."""
    return default_registry().models()


def model_versions(name: str) -> VersionTable:
    """Every version of ``name``, oldest first."""
    return default_registry().model_versions(name)


def rollback(name: str) -> ModelVersion:
    """Put back in production the version the current production version replaced."""
    return default_registry().rollback(name)


__all__ = [
    "GATED_STAGES",
    "Registry",
    "check_metadata",
    "default_registry",
    "library_versions",
    "load_model",
    "model_versions",
    "models",
    "rollback",
]
