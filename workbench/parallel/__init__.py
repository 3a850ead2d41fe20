"""Parallel training on an ipyparallel cluster.

- :class:`Cluster`: start a local cluster or connect to one (``%cluster`` in a notebook);
- :func:`search`: scikit-learn's grid or randomized search, fits spread over the engines,
  data sent once per engine, dead engines survived;
- :func:`backend`: any joblib / scikit-learn ``n_jobs`` code on the cluster.

Names are imported on first use (ipyparallel, scikit-learn), so that engines, which
import only :mod:`workbench.parallel._remote`, start their first task quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.parallel.cluster import Cluster, ClusterStatus, EngineStatus, active_cluster
    from workbench.parallel.joblib_backend import TransferStats, WorkbenchBackend, backend
    from workbench.parallel.search import SearchReport, SearchSummary, search

_LAZY = {
    "Cluster": "workbench.parallel.cluster",
    "ClusterStatus": "workbench.parallel.cluster",
    "EngineStatus": "workbench.parallel.cluster",
    "active_cluster": "workbench.parallel.cluster",
    "TransferStats": "workbench.parallel.joblib_backend",
    "WorkbenchBackend": "workbench.parallel.joblib_backend",
    "backend": "workbench.parallel.joblib_backend",
    "SearchReport": "workbench.parallel.search",
    "SearchSummary": "workbench.parallel.search",
    "search": "workbench.parallel.search",
}

__all__ = [
    "Cluster",
    "ClusterStatus",
    "EngineStatus",
    "SearchReport",
    "SearchSummary",
    "TransferStats",
    "WorkbenchBackend",
    "active_cluster",
    "backend",
    "search",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.parallel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
