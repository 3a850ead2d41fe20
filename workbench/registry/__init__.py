"""The model registry: versioned, verified models with metrics and stages.

``wb.register(model, "churn", eval_data=(X, y))`` stores a model; ``wb.load_model("churn")``
is the factory that every server, job and test uses to get the production version back.
Where it keeps them is the storage layer's (:mod:`workbench.storage`: ``local``, ``redis://...``,
``memory``, plugins of the ``workbench.stores`` group); formats (``skops``, ``joblib``) are
plugins of the ``workbench.formats`` group. Promotion through the acceptance gates is
:func:`workbench.lifecycle.promotion.promote` (``wb.promote``).
Importing this package imports neither scikit-learn, skops nor redis.
"""

from __future__ import annotations

from workbench.registry.api import Registry, default_registry, load_model, model_versions, models, rollback
from workbench.registry.formats import FORMATS, ModelFormat
from workbench.registry.version import ModelTable, VersionTable
from workbench.storage.model_records import STAGES, ModelVersion, PromotionEvent
from workbench.storage.model_store import ModelStore

__all__ = [
    "FORMATS",
    "STAGES",
    "ModelFormat",
    "ModelStore",
    "ModelTable",
    "ModelVersion",
    "PromotionEvent",
    "Registry",
    "VersionTable",
    "default_registry",
    "load_model",
    "model_versions",
    "models",
    "rollback",
]
