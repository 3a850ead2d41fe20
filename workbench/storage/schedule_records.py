"""Schedules: a notebook job with parameters and a cron expression.

Cron expressions are parsed by ``croniter``; times are UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from workbench.errors import ScheduleError
from workbench.names import validate_name


@dataclass
class Schedule:
    """``notebook`` runs with ``parameters`` whenever ``cron`` is due.

    ``last_due`` is the due time of the latest run started (ISO, UTC): the scheduler
    compares it with the cron expression to find the next due time. A ``paused`` schedule
    is skipped by the scheduler until resumed. ``executor``, when set, is the ipyparallel
    cluster (profile name or client connection file) whose engines run the job instead of
    the scheduler's host.
    """

    name: str
    notebook: str
    cron: str
    parameters: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    cell_timeout: float | None = None
    kernel: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    last_due: str | None = None
    last_run_id: str | None = None
    paused: bool = False
    executor: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "schedule name")
        check_cron(self.cron)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def next_due(self, after: datetime) -> datetime:
        """The first due time strictly after ``after``."""
        from croniter import croniter

        result: datetime = croniter(self.cron, after).get_next(datetime)
        return result

    def due_since(self, now: datetime) -> datetime | None:
        """The latest due time in (last_due or created_at, now], or None when nothing is due."""
        from croniter import croniter

        start = datetime.fromisoformat(self.last_due or self.created_at)
        latest: datetime = croniter(self.cron, now).get_prev(datetime)
        return latest if latest > start else None

    def crontab_line(self, command: str) -> str:
        return f"{self.cron} {command}"


def check_cron(expression: str) -> None:
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ScheduleError(
            f"{expression!r} is not a cron expression",
            hint='write five fields: minute hour day month weekday, e.g. "*/5 * * * *"',
        )


__all__ = ["Schedule", "check_cron"]
