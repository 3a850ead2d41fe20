"""What a gate run found: one :class:`CriterionResult` per criterion, gathered in a :class:`GateReport`.

Both render as text (terminals, logs, pytest reports, JUnit XML) and as HTML (the
notebook), and round-trip through plain JSON, which is how the registry keeps each run
with the version it judged.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from workbench.formatting import html_table, text_table, volatile


@dataclass(frozen=True)
class CriterionResult:
    """The verdict on one criterion.

    ``observed`` is the score (for a comparison with a baseline stage, the score minus
    the baseline's), ``low`` and ``high`` its bootstrap interval at ``level``. With
    ``use_lower_bound`` the lower bound, not the observed value, had to reach ``threshold``.
    """

    id: str
    description: str
    threshold: float
    observed: float
    low: float
    high: float
    level: float
    use_lower_bound: bool
    passed: bool
    note: str = ""

    def verdict(self) -> str:
        """One line: what was required, what was seen."""
        interval = f"{self.level:.0%} interval [{self.low:.4f}, {self.high:.4f}]"
        judged = "lower bound" if self.use_lower_bound else "observed"
        line = f"{self.description}: observed {self.observed:.4f}, {interval}, {judged} vs threshold {self.threshold:g}"
        return f"{line} ({self.note})" if self.note else line


@dataclass(frozen=True)
class GateReport:
    """Every criterion of one model version's gates, on one holdout."""

    model: str
    version: int
    stage: str
    holdout: str
    holdout_sha256: str
    n_samples: int
    labels: list[str]
    confusion: list[list[int]]
    results: list[CriterionResult]
    bootstrap: int
    seed: int
    at: str = ""
    by: str = ""
    trigger: str = "api"

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CriterionResult]:
        return [r for r in self.results if not r.passed]

    def result(self, criterion_id: str) -> CriterionResult:
        for found in self.results:
            if found.id == criterion_id:
                return found
        raise KeyError(criterion_id)

    def confusion_text(self) -> str:
        rows = [[f"true {label}", *map(str, counts)] for label, counts in zip(self.labels, self.confusion, strict=True)]
        return text_table(["", *(f"pred {label}" for label in self.labels)], rows)

    def headline(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.results)} criteria)"
        return f"acceptance gates of {self.model} v{self.version} ({self.stage}): {verdict}"

    def holdout_line(self) -> str:
        return f"holdout {self.holdout}: {self.n_samples} rows, sha256 {self.holdout_sha256}"

    def failure_text(self, result: CriterionResult) -> str:
        """The report of one failed criterion, as pytest and JUnit XML show it."""
        return "\n".join(
            [
                f"acceptance gate failed: model {self.model} version {self.version} ({self.stage})",
                f"  criterion  {result.description}",
                f"  threshold  {result.threshold:g}"
                + (" (lower bound of the interval)" if result.use_lower_bound else ""),
                f"  observed   {result.observed:.4f}",
                f"  interval   [{result.low:.4f}, {result.high:.4f}] at {result.level:.0%} "
                f"({self.bootstrap} bootstrap resamples, seed {self.seed})",
                *([f"  note       {result.note}"] if result.note else []),
                f"  {self.holdout_line()}",
                "  confusion matrix (rows: true class, columns: predicted class)",
                *("    " + line for line in self.confusion_text().splitlines()),
            ]
        )

    def _rows(self) -> list[list[str]]:
        return [
            [
                r.description,
                f"{r.threshold:g}" + (" (lower bound)" if r.use_lower_bound else ""),
                f"{r.observed:.4f}",
                f"[{r.low:.4f}, {r.high:.4f}]",
                "pass" if r.passed else "FAIL",
                r.note,
            ]
            for r in self.results
        ]

    @property
    def _headers(self) -> tuple[str, ...]:
        level = f"{self.results[0].level:.0%} " if self.results else ""
        return ("criterion", "threshold", "observed", f"{level}interval", "result", "note")

    def __str__(self) -> str:
        return "\n".join(
            [
                self.headline(),
                self.holdout_line(),
                text_table(self._headers, self._rows()),
                "confusion matrix (rows: true class, columns: predicted class)",
                self.confusion_text(),
            ]
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        escaped = [[html.escape(cell) for cell in row] for row in self._rows()]
        matrix = html_table(
            ["", *(f"pred {label}" for label in self.labels)],
            [
                [html.escape(f"true {label}"), *map(str, counts)]
                for label, counts in zip(self.labels, self.confusion, strict=True)
            ],
            caption="confusion matrix",
        )
        # the version number grows with every registration: volatile, so nbval compares the rest
        headline = html.escape(self.headline()).replace(f" v{self.version} ", f" {volatile(f'v{self.version}')} ", 1)
        return (
            f"<div class='wb-acceptance'><p><strong>{headline}</strong><br>"
            f"{html.escape(self.holdout_line())}</p>{html_table(self._headers, escaped)}{matrix}</div>"
        )

    def to_record(self) -> dict[str, Any]:
        """Plain JSON, as the registry keeps it."""
        record = asdict(self)
        record["passed"] = self.passed
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> GateReport:
        """A report kept by the registry (:meth:`to_record`), to show again."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["results"] = [CriterionResult(**r) for r in record.get("results", [])]
        return cls(**values)


__all__ = ["CriterionResult", "GateReport"]
