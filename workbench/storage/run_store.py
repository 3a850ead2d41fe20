"""Where runs, their output notebooks and schedules are kept.

The store is the one the settings name (``local``, or ``redis://...`` for a team). A run's
working folder is always local (``<home>/runs/<run id>/``): the kernel writes its records
there and the output notebook is written there atomically; a shared store also keeps the
notebook's bytes so any machine can open it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from workbench.config import Settings, load_settings
from workbench.errors import RunNotFoundError, StoreError
from workbench.jobs.run import Run
from workbench.jobs.schedule import Schedule
from workbench.names import validate_name


class RunStore(ABC):
    """Runs and schedules. Every method raises :class:`StoreUnavailableError` when the
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

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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


def open_run_store(settings: Settings | None = None) -> RunStore:
    """The run store for the configured store URL."""
    settings = settings or load_settings()
    url = settings.store
    if url == "local":
        from workbench.jobs.local_store import LocalRunStore

        return LocalRunStore(settings.home)
    if url.startswith(("redis://", "rediss://")):
        from workbench.jobs.redis_store import RedisRunStore

        return RedisRunStore.from_url(url, settings.home)
    raise StoreError(
        f"jobs cannot keep runs in store {url!r}", hint="use 'local' or redis://host:port/db for WORKBENCH_STORE"
    )


__all__ = ["RunNotFoundError", "RunStore", "open_run_store"]
