"""Notebooks as production jobs: ``wb.jobs.run``, run history, schedules.

Runs and schedules are kept in the run store of the settings' storage
(``workbench.storage.open_storage().runs``).
"""

from workbench.jobs.runner import run
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule

__all__ = ["Run", "RunStore", "Schedule", "run"]
