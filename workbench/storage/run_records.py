"""The record of one notebook run: what ran, with what, how it ended, what it produced."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from workbench.formatting import format_time, html_table, text_table

STATUSES = ("running", "succeeded", "failed", "cancelled")
REASONS = (
    "cell_error",
    "exited",
    "kernel_died",
    "kernel_unavailable",
    "timeout",
    "bad_parameters",
    "runner_died",
    "runner_lost",
    "interrupted",
    "terminated",
    "engine_lost",
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Run:
    """One execution of a notebook job. ``output`` is the executed notebook's path; ``executor``
    the cluster (profile or connection file) it was sent to, None for a run on this host."""

    run_id: str
    job: str
    notebook: str
    status: str = "running"
    reason: str | None = None
    failed_cell: int | None = None
    error: str | None = None
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    duration: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    retry_of: str | None = None
    schedule: str | None = None
    output: str | None = None
    host: str = ""
    pid: int = 0
    pid_started: float | None = None  # the owner process's start time (psutil), to tell a reused pid
    executor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def _facts(self) -> list[tuple[str, str]]:
        facts = [
            ("run", self.run_id),
            ("job", self.job),
            ("notebook", self.notebook),
            ("status", self.status + (f" ({self.reason})" if self.reason else "")),
            ("started", self.started_at),
            ("duration", format_time(self.duration) if self.duration is not None else "-"),
        ]
        if self.failed_cell is not None:
            facts.append(("failed cell", str(self.failed_cell)))
        if self.error:
            facts.append(("error", self.error))
        if self.retry_of:
            facts.append(("retry of", self.retry_of))
        if self.executor:
            facts.append(("ran on", f"{self.host} (pid {self.pid}), cluster {self.executor}"))
        facts += [(f"parameter {k}", repr(v)) for k, v in self.parameters.items()]
        facts += [(f"metric {k}", repr(v)) for k, v in self.metrics.items()]
        facts += [(f"timer {k}", format_time(v)) for k, v in self.timers.items()]
        facts += [("model", f"{m['name']} v{m['version']}") for m in self.models]
        if self.output:
            facts.append(("output", self.output))
        return facts

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self._facts())
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in self._facts())

    def __repr__(self) -> str:
        return f"<Run {self.run_id} {self.job} {self.status}>"

    def _repr_html_(self) -> str:
        return html_table(["", ""], [(html.escape(k), html.escape(v)) for k, v in self._facts()])


def runs_table(runs: list[Run]) -> str:
    """A terminal table of runs, newest first."""
    rows = [
        (
            r.run_id,
            r.job,
            r.status + (f" ({r.reason})" if r.reason else ""),
            r.started_at[:19].replace("T", " "),
            format_time(r.duration) if r.duration is not None else "-",
            ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.metrics.items()),
        )
        for r in runs
    ]
    return text_table(["run", "job", "status", "started (UTC)", "duration", "metrics"], rows)


__all__ = ["REASONS", "STATUSES", "Run", "runs_table", "utc_now"]
