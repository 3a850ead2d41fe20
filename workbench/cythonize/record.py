"""Recording real calls: ``%cythonize --record N f`` keeps the arguments of f's next N calls.

The recorded calls type the arguments (when no sample is given) and join the
equivalence check, so the compiled version is checked on the data it will really see.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any


class Recorder:
    """Calls ``func`` unchanged, keeping a deep copy of the arguments of the first ``limit`` calls."""

    def __init__(self, func: Callable[..., Any], limit: int) -> None:
        if limit < 1:
            raise ValueError(f"record at least one call, not {limit}")
        self.func = func
        self.limit = limit
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(self.calls) < self.limit:
            self.calls.append(copy.deepcopy((args, kwargs)))
        return self.func(*args, **kwargs)

    @property
    def done(self) -> bool:
        return len(self.calls) >= self.limit

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", "function")
        return f"<recording {name}: {len(self.calls)} of {self.limit} calls>"


def record(func: Callable[..., Any], limit: int) -> Recorder:
    """Wrap ``func`` to keep the arguments of its next ``limit`` calls (``Recorder.calls``)."""
    return Recorder(func, limit)


__all__ = ["Recorder", "record"]
