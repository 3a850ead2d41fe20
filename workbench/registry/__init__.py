"""The model registry: versioned, verified models with metrics and stages.

``wb.register(model, "churn", eval_data=(X, y))`` stores a model; ``wb.load_model("churn")``
is the factory that every server, job and test uses to get the production version back.
Stores (``local``, ``redis://...``, ``memory``) and formats (``skops``, ``joblib``) are
plugins of the ``workbench.stores`` and ``workbench.formats`` entry-point groups.
Importing this package imports neither scikit-learn, skops nor redis.
"""

from __future__ import annotations

from workbench.registry.api import (
    STORES,
    Registry,
    default_registry,
    load_model,
    model_versions,
    models,
    open_store,
    promote,
    register,
    rollback,
)
from workbench.registry.formats import FORMATS, ModelFormat
from workbench.registry.store import Store
from workbench.registry.version import STAGES, ModelTable, ModelVersion, PromotionEvent, VersionTable

__all__ = [
    "FORMATS",
    "STAGES",
    "STORES",
    "ModelFormat",
    "ModelTable",
    "ModelVersion",
    "PromotionEvent",
    "Registry",
    "Store",
    "VersionTable",
    "default_registry",
    "load_model",
    "model_versions",
    "models",
    "open_store",
    "promote",
    "register",
    "rollback",
]
