"""What the Lab's REST handlers do, as plain functions over the stores (no web framework here).

Each function calls what the ``workbench`` command calls: :func:`workbench.jobs.runner.prepare`
for parameters, :func:`workbench.jobs.schedule_cli.add_schedule` for schedules,
:func:`workbench.lifecycle.promotion.promote` and the registry for models, the dashboard's
snapshot for figures. Notebook paths are relative to the Lab's root folder and must stay in it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.dashboard.snapshot import Sources, _finite, _schedule_entry, model_entries, run_entry
from workbench.errors import JobError, ScheduleError
from workbench.jobs.params import declared_parameters, parse_value
from workbench.jobs.runner import read_notebook
from workbench.scoring import AVERAGE
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule, check_cron

RUNS_SHOWN = 50
OUTPUTS_FOLDER = "workbench-runs"
"""Where "open output" copies a run's executed notebook, in the Lab's root folder, so the Lab can open it."""


def notebook_path(root: Path, path: str) -> Path:
    """``path`` (relative to the Lab's root) as an absolute path to an existing notebook inside the root."""
    base = root.resolve()
    found = (base / path).resolve()
    if not found.is_relative_to(base):
        raise JobError(f"{path} is outside the Lab's folder", hint="pick a notebook in the file browser")
    if found.suffix != ".ipynb" or not found.is_file():
        raise JobError(f"no notebook at {path}", hint="pick a .ipynb file in the file browser")
    return found


def relative_path(root: Path, path: str | None) -> str | None:
    """``path`` relative to the Lab's root, or None when it lies outside it."""
    if not path:
        return None
    found = Path(path).resolve()
    base = root.resolve()
    return found.relative_to(base).as_posix() if found.is_relative_to(base) else None


def parse_form(values: dict[str, Any]) -> dict[str, Any]:
    """The form's texts read as ``workbench run -p NAME VALUE`` reads them (YAML, as papermill does)."""
    return {name: parse_value(text) if isinstance(text, str) else text for name, text in values.items()}


def parameters_of(notebook: Path) -> list[dict[str, str]]:
    """The notebook's ``parameters`` cell: name, type, current value (as written) and help."""
    return [
        {"name": p.name, "type": p.type, "default": p.default, "help": p.help}
        for p in declared_parameters(read_notebook(notebook))
    ]


def run_record(run: Run, root: Path) -> dict[str, Any]:
    """A run as the panel shows it: the dashboard's entry plus why it failed and where its notebook is."""
    entry = run_entry(run)
    entry.update(
        error=run.error,
        failed_cell=run.failed_cell,
        notebook=relative_path(root, run.notebook) or run.notebook,
        schedule=run.schedule,
        models=_finite(run.models),
    )
    return entry


def next_times(cron: str, count: int = 3, now: datetime | None = None) -> list[str]:
    """The next ``count`` due times of ``cron`` (UTC, ISO), or :class:`ScheduleError` for a bad expression."""
    from croniter import croniter

    check_cron(cron)
    it = croniter(cron, now or datetime.now(UTC))
    return [it.get_next(datetime).isoformat(timespec="seconds") for _ in range(count)]


def schedule_record(schedule: Schedule, store: RunStore, root: Path, now: datetime) -> dict[str, Any]:
    entry = _schedule_entry(schedule, now)
    last = [r for r in store.list_runs(schedule.name, limit=20) if r.schedule == schedule.name][:1]
    entry.update(
        notebook=relative_path(root, schedule.notebook) or schedule.notebook,
        paused=schedule.paused,
        next_run=None if schedule.paused else entry["next_run"],
        last_run=run_record(last[0], root) if last else None,
    )
    return entry


def set_paused(store: RunStore, name: str, paused: bool) -> Schedule:
    """Pause or resume a schedule; resuming skips the due times that passed while it was paused."""
    schedule = store.get_schedule(name)
    if schedule is None:
        raise ScheduleError(f"no schedule named {name!r}", hint="list them with: workbench schedule list")
    if schedule.paused and not paused:
        schedule.last_due = datetime.now(UTC).isoformat()
    schedule.paused = paused
    store.save_schedule(schedule)
    return schedule


def state(sources: Sources, root: Path) -> dict[str, Any]:
    """Everything the panel shows: runs newest first, schedules, models; ``fingerprint`` changes with it."""
    now = datetime.now(UTC)
    store = sources.runs
    body = {
        "runs": [run_record(r, root) for r in store.list_runs(limit=RUNS_SHOWN)],
        "schedules": [schedule_record(s, store, root, now) for s in store.list_schedules()],
        "models": model_entries(sources),
        "average": AVERAGE,
    }
    text = json.dumps(body, sort_keys=True, default=str)
    body["fingerprint"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return body


def copy_output(store: RunStore, run_id: str, root: Path) -> str:
    """Copy a finished run's executed notebook into the Lab's folder (``workbench-runs/``); its path there."""
    run = store.require_run(run_id)
    if run.status == "running":
        raise JobError(f"run {run_id} is still running", hint="open its output when it has ended")
    data = store.load_output(run_id)
    folder = root / OUTPUTS_FOLDER
    folder.mkdir(exist_ok=True)
    target = folder / f"{run.job}-{run_id}.ipynb"
    target.write_bytes(data)
    return target.relative_to(root).as_posix()


__all__ = [
    "OUTPUTS_FOLDER",
    "copy_output",
    "next_times",
    "notebook_path",
    "parameters_of",
    "parse_form",
    "relative_path",
    "run_record",
    "set_paused",
    "state",
]
