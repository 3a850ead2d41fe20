"""Notebooks as production jobs: ``wb.jobs.run``, run history, schedules."""

from workbench.jobs.run import Run
from workbench.jobs.runner import run
from workbench.jobs.schedule import Schedule
from workbench.jobs.store import RunStore, open_run_store

__all__ = ["Run", "RunStore", "Schedule", "open_run_store", "run"]
