"""The part of workbench that runs on the engines: the data cache and the task runner.

Large arrays are pushed once per engine into ``_STORE`` and a task refers to them by
key (pickle persistent ids), so a search sends its data ``engines`` times instead of
``tasks`` times. This module imports only the standard library: engines on other hosts
need workbench installed, nothing else of it is loaded there.
"""

from __future__ import annotations

import io
import os
import pickle
import socket
from typing import Any

ENGINE_HOST_ENV = "WORKBENCH_ENGINE_HOST"
"""Set in an engine's environment, the host name ``%cluster status`` groups it under (on
Kubernetes: the node name, which the pod's own host name is not)."""

_STORE: dict[str, Any] = {}


class _Loader(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        try:
            return _STORE[pid]
        except KeyError:
            raise LookupError(
                f"data {pid!r} was never pushed to this engine (it joined during the search); run it again"
            ) from None


def store(items: dict[str, Any]) -> int:
    """Keep ``items`` for the tasks that follow; returns how many keys are held."""
    _STORE.update(items)
    return len(_STORE)


def drop(keys: list[str]) -> int:
    """Forget the given keys; returns how many keys are still held."""
    for key in keys:
        _STORE.pop(key, None)
    return len(_STORE)


def run(payload: bytes, extras: dict[str, Any]) -> Any:
    """Keep ``extras`` (arrays this engine may not have yet), then unpickle and call the task."""
    _STORE.update(extras)
    return _Loader(io.BytesIO(payload)).load()()


def warm_up() -> None:
    """Import what every search task needs, so the first search does not wait for it."""
    import cloudpickle  # noqa: F401
    import sklearn.model_selection  # noqa: F401


def engine_info() -> dict[str, Any]:
    """Where this engine runs: host (as named for grouping), machine, process id (memory is read
    from the process when the machine is the caller's)."""
    machine = socket.gethostname()
    return {"host": os.environ.get(ENGINE_HOST_ENV) or machine, "machine": machine, "pid": os.getpid()}
