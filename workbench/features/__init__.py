"""``wb.features``: rank features by several methods with their stability across folds, and
select or project them with scikit-learn transformers that fit in a ``Pipeline``.

::

    ranking = wb.features.rank(X, y)                 # tree, permutation, mutual_info; 5 folds
    ranking.top(10); ranking.to_frame(); ranking.plot()
    selection = wb.features.select(X, y, "rfe", k=8)
    pipe = make_pipeline(selection.transformer, LogisticRegression())

In a notebook: ``%features X y --methods tree,mutual_info --top 10``.
"""

from workbench.features.ranking import METHODS, Ranking, Stability, rank
from workbench.features.selection import SELECTORS, Selection, select

__all__ = ["METHODS", "SELECTORS", "Ranking", "Selection", "Stability", "rank", "select"]
