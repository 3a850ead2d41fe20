"""File-system failures of the embedded backend (permissions, a full disk, a vanished home) as
:class:`StorageUnavailableError`, so they reach the user as the one storage error, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from workbench.errors import StorageUnavailableError


@contextmanager
def os_errors_as_unavailable(what: str) -> Iterator[None]:
    """Translate an :class:`OSError` escaping the block; ``what`` names the store in the message."""
    try:
        yield
    except OSError as exc:
        raise StorageUnavailableError(
            f"{what} is unavailable: {exc}",
            hint="check that the workbench home (WORKBENCH_HOME) exists, is writable and has free space",
        ) from exc


__all__ = ["os_errors_as_unavailable"]
