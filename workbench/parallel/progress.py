"""Progress of a parallel search: fits done, ETA and the best mean test score so far.

A tqdm.auto bar: an ipywidgets bar in a notebook, a text bar in a terminal or a log.
In a notebook the bar is shown with a display id and shown again when it closes, so the
text kept beside the widget (what a saved notebook shows where the widget cannot be
drawn: GitHub, nbviewer, a job's output notebook) is the final count, not the "0%" of the
moment the bar appeared.
"""

from __future__ import annotations

import math
from typing import Any

from tqdm.auto import tqdm


class Progress:
    """Counts fits as they finish; ``score_key`` picks the metric of a multi-metric search."""

    def __init__(self, *, score_key: str | None = None, description: str = "fits") -> None:
        self.score_key = score_key
        self.description = description
        self.best: float | None = None
        self._bar: Any = None
        self._shown: Any = None  # the notebook display of the widget, updated at close
        self._scores: dict[int, list[float]] = {}

    def begin(self, fits: list[dict[str, Any]]) -> None:
        """Show the bar (at 0) when the first task is sent: the first fits can take a while."""
        if self._bar is None:
            first = fits[0] if fits else {}
            total = first.get("n_candidates", 0) * first.get("n_splits", 0) or None
            if _is_widget(tqdm):
                from IPython.display import display

                self._bar = tqdm(total=total, desc=self.description, unit="fit", display=False)
                self._shown = display(self._bar.container, display_id=True)
            else:
                self._bar = tqdm(total=total, desc=self.description, unit="fit")

    def update(self, fits: list[dict[str, Any]]) -> None:
        self.begin(fits)
        for fit in fits:
            self._add_score(fit)
        self._bar.update(len(fits))
        if self.best is not None:
            self._bar.set_postfix(best=f"{self.best:.4g}", refresh=False)

    def _add_score(self, fit: dict[str, Any]) -> None:
        scores = fit.get("test_scores")
        if isinstance(scores, dict):
            scores = scores.get(self.score_key) if self.score_key else None
        if scores is None or "candidate" not in fit:
            return
        folds = self._scores.setdefault(fit["candidate"], [])
        folds.append(float(scores))
        if len(folds) == fit["n_splits"]:
            mean = sum(folds) / len(folds)
            if not math.isnan(mean) and (self.best is None or mean > self.best):
                self.best = mean

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            if self._shown is not None:
                self._shown.update(self._bar.container)  # its text is now the final count
            self._bar = self._shown = None


def _is_widget(bar_class: type) -> bool:
    """Whether tqdm.auto chose the notebook (ipywidgets) bar."""
    return any(cls.__module__ == "tqdm.notebook" for cls in bar_class.__mro__)


__all__ = ["Progress"]
