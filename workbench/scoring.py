"""What "precision", "recall" and "F1" mean everywhere in workbench: macro averages.

Each class's score is computed from the confusion matrix, then the scores are averaged
over the classes that occur in the rows scored (as a true or a predicted label), every
class weighing the same; a ratio with nothing to divide by (a class never predicted)
counts 0. That is scikit-learn's ``precision_score(y_true, y_pred, average="macro",
zero_division=0)`` without ``labels=``, for two classes as for ten.

The acceptance gates (``precision = 0.9``), the registry's offline metrics
(``wb.register``: ``precision_macro``), the serving side's live figures
(``workbench_live_precision_macro``), the dashboard page and ``%dashboard`` all use it,
and say so where they show a number. One class's own score is a per-class figure:
``precision[1]`` in a gate (``per_class = { "1" = { precision = 0.9 } }``), ``per_class``
in the registry's evaluation report.
"""

from __future__ import annotations

AVERAGE = "macro"
"""How per-class scores are combined into the one figure called precision, recall or F1."""

DEFINITION = (
    "macro average: each class's score averaged over the classes present (true or predicted), "
    "a class never predicted counting 0"
)


def labelled(metric: str) -> str:
    """``precision`` -> ``precision (macro)``: the name under which a figure is shown."""
    return f"{metric} ({AVERAGE})"


__all__ = ["AVERAGE", "DEFINITION", "labelled"]
