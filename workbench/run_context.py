"""The job run this process belongs to, if any, and the channel back to the runner.

``workbench run`` starts the kernel with ``WORKBENCH_RUN_ID`` and ``WORKBENCH_RUN_DIR``
set. Inside the notebook, :func:`record`, ``wb.timer`` and ``wb.register`` append one JSON
line each to ``<run dir>/records.jsonl``; the runner reads the file when the run ends and
keeps metrics, stage durations and registered model versions with the run. Appends of a
single short line with ``O_APPEND`` do not interleave, so threads and child processes of
the kernel may record too. Outside a job nothing is written.
"""

from __future__ import annotations

import html
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

RUN_ID_ENV = "WORKBENCH_RUN_ID"
RUN_DIR_ENV = "WORKBENCH_RUN_DIR"
RECORDS_FILE = "records.jsonl"


def current_run_id() -> str | None:
    return os.environ.get(RUN_ID_ENV) or None


def _records_path() -> Path | None:
    folder = os.environ.get(RUN_DIR_ENV)
    return Path(folder) / RECORDS_FILE if folder else None


def append(entry: dict[str, Any]) -> None:
    """Send one entry to the runner (no-op outside a job)."""
    path = _records_path()
    if path is None:
        return
    line = (json.dumps(entry, allow_nan=False, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every entry a run sent, in order; a torn last line (a killed kernel) is dropped."""
    path = folder / RECORDS_FILE
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


class Recorded:
    """What :func:`record` shows in the notebook."""

    def __init__(self, key: str, value: Any) -> None:
        self.key = key
        self.value = value

    def __repr__(self) -> str:
        return f"recorded {self.key} = {self.value!r}"

    def _repr_html_(self) -> str:
        return f"<p>recorded <code>{html.escape(self.key)}</code> = <code>{html.escape(repr(self.value))}</code></p>"


def record(key: str, value: Any) -> None:
    """Record a metric of this run (``wb.record("precision_macro", 0.93)``) and show it in the
    notebook's output.

    Values must be JSON data (numbers, strings, booleans, None, lists, maps); NumPy
    scalars are converted. Outside a job the value is only shown.
    """
    from workbench.errors import WorkbenchError

    if not isinstance(key, str) or not key:
        raise WorkbenchError(f"a metric key must be a non-empty string, not {key!r}")
    if hasattr(value, "item") and callable(value.item):
        value = value.item()  # NumPy scalar -> Python number
    if isinstance(value, float) and not math.isfinite(value):
        raise WorkbenchError(f"metric {key} is {value}; only finite numbers can be recorded")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise WorkbenchError(
            f"metric {key} is a {type(value).__name__}, which is not JSON data",
            hint="record numbers, strings, booleans, lists or maps",
        ) from exc
    append({"kind": "metric", "key": key, "value": value})
    shell = sys.modules.get("IPython")
    if shell is not None and shell.get_ipython() is not None:
        from IPython.display import display

        display(Recorded(key, value))


__all__ = ["RUN_DIR_ENV", "RUN_ID_ENV", "Recorded", "append", "current_run_id", "read_records", "record"]
