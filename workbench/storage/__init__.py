"""The storage layer: one backend per place (memory, local, Redis, or a plugin), opened once,
giving the model, run, datamart, prediction and loop stores of that place.

Domain packages (registry, jobs, datamart, serving) use these stores; nothing here imports
them. See :mod:`workbench.storage.backend`.
"""

from workbench.storage.backend import BACKENDS, KINDS, Storage, open_storage

__all__ = ["BACKENDS", "KINDS", "Storage", "open_storage"]
