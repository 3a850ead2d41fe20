"""workbench: take a scikit-learn classifier from a notebook to production.

``import workbench as wb`` is cheap: each public name imports its module on first use.
``%load_ext workbench`` registers the magics.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> "module:attribute" (attribute omitted: the module itself)
_LAZY: dict[str, str] = {
    "WorkbenchError": "workbench.errors:WorkbenchError",
    "Settings": "workbench.config:Settings",
    "load_settings": "workbench.config:load_settings",
    "measure": "workbench.timing:measure",
    "compare": "workbench.timing:compare",
    "timer": "workbench.timing:timer",
    "timer_log": "workbench.timing:timer_log",
    "Timing": "workbench.timing:Timing",
    "Comparison": "workbench.timing:Comparison",
    "hotspots": "workbench.profiling:hotspots",
    "timing": "workbench.timing",
    "profiling": "workbench.profiling",
    "cythonize": "workbench.cythonize",
    "errors": "workbench.errors",
    "record": "workbench.run_context:record",
    "jobs": "workbench.jobs",
    "parallel": "workbench.parallel",
    "register": "workbench.lifecycle.promotion:register",
    "load_model": "workbench.registry.api:load_model",
    "models": "workbench.registry.api:models",
    "model_versions": "workbench.registry.api:model_versions",
    "promote": "workbench.lifecycle.promotion:promote",
    "PromotionResult": "workbench.lifecycle.promotion:PromotionResult",
    "rollback": "workbench.registry.api:rollback",
    "loop": "workbench.lifecycle.loop",
    "ModelVersion": "workbench.storage.model_records:ModelVersion",
    "registry": "workbench.registry",
    "storage": "workbench.storage",
    "open_storage": "workbench.storage:open_storage",
    "acceptance": "workbench.acceptance",
    "run_gates": "workbench.acceptance:run_gates",
    "datamart": "workbench.datamart",
    "features": "workbench.features",
}

__all__ = sorted([*_LAZY, "__version__", "load_ipython_extension"])

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext workbench``: register the workbench magics."""
    from workbench.magics import load_ipython_extension as load

    load(ipython)
