"""The run store's contract: where runs, their output notebooks and schedules are kept.

The store is the one of the settings' backend (``local``, or ``redis://...`` for a team). A run's
working folder is always local (``<home>/runs/<run id>/``): the kernel writes its records
there and the output notebook is written there atomically; a shared store also keeps the
notebook's bytes so any machine can open it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from workbench.names import validate_name
from workbench.storage.run_records import Run
from workbench.storage.schedule_records import Schedule


class RunStore(ABC):
    """Runs and schedules. Every method raises :class:`StorageUnavailableError` when the
    backend cannot be reached."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run_dir(self, run_id: str) -> Path:
        """The local working folder of a run (created)."""
        folder = self.home / "runs" / validate_name(run_id, "run id")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @abstractmethod
    def save_run(self, run: Run) -> None:
        """Create or replace the record of ``run`` (atomic)."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run; raises :class:`RunNotFoundError`."""

    @abstractmethod
    def list_runs(self, job: str | None = None, limit: int = 50) -> list[Run]:
        """Runs, newest first, of one job or of all."""

    @abstractmethod
    def save_output(self, run_id: str, notebook: bytes) -> None:
        """Keep the executed notebook's bytes (the local file is already written)."""

    @abstractmethod
    def load_output(self, run_id: str) -> bytes:
        """The executed notebook's bytes; raises :class:`RunNotFoundError`."""

    @abstractmethod
    def save_schedule(self, schedule: Schedule) -> None:
        """Create or replace a schedule."""

    @abstractmethod
    def get_schedule(self, name: str) -> Schedule | None: ...

    @abstractmethod
    def list_schedules(self) -> list[Schedule]: ...

    @abstractmethod
    def remove_schedule(self, name: str) -> bool:
        """True when a schedule was removed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def output_path(self, run_id: str) -> Path:
        """A local path of the executed notebook, fetched from the store when needed."""
        path = self.home / "runs" / validate_name(run_id, "run id") / "output.ipynb"
        if not path.is_file():
            from workbench.fsutil import atomic_write_bytes

            atomic_write_bytes(path, self.load_output(run_id))
        return path

    def require_run(self, run_id: str) -> Run:
        validate_name(run_id, "run id")
        return self.get_run(run_id)


__all__ = ["RunStore"]
