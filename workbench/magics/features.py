"""``%features X y``: rank the notebook's features (thin over :func:`workbench.features.rank`)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from workbench.magics.base import WorkbenchMagics


def _positive(option: str, value: str, least: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{option} takes a whole number, not {value!r}") from None
    if number < least:
        raise UsageError(f"{option} must be at least {least}, not {number}")
    return number


@magics_class
class FeaturesMagics(WorkbenchMagics):
    """Feature rankings from a notebook."""

    @magic_arguments()
    @argument("X", help="the notebook's features: a DataFrame (its column names) or a 2-D array")
    @argument("y", help="the notebook's class labels, one per row of X")
    @argument("--methods", default=None, help="comma-separated: tree, permutation, mutual_info (default: all three)")
    @argument("--cv", default="5", help="stratified folds (default 5)")
    @argument("--top", default=None, help="features shown and compared across folds (default 10)")
    @argument("--seed", default="0", help="random seed of the folds and the models (default 0)")
    @argument("--trees", default="100", help="trees of the forest behind tree and permutation (default 100)")
    @argument("--repeats", default="5", help="shuffles of each feature for permutation (default 5)")
    @argument("-o", "--output", action="store_true", help="return the ranking (a wb.features.Ranking)")
    @argument("-q", "--quiet", action="store_true", help="do not display the ranking")
    @line_magic
    def features(self, line: str) -> Any:
        """Rank the columns of ``X`` for predicting ``y``.

        ``%features X y`` scores every feature by a random forest's importance, permutation
        importance on held-out folds and mutual information, averaged over 5 stratified
        folds; shows the best features by consensus rank, each method's score and rank, and
        how stable each method's ranking is across folds (Spearman correlation, top-k
        overlap). ``%features X y --methods tree,mutual_info --cv 3 --top 5 -o`` picks the
        methods, folds and table length and returns the ``Ranking``; ``--trees`` and ``--repeats``
        size the forest and the permutation shuffles (fewer: faster, noisier) (``.to_frame()``,
        ``.plot()``). The same call in code is ``wb.features.rank(X, y, ...)``.
        """
        from workbench.features import METHODS, rank

        args = parse_argstring(self.features, line)
        X = self.lookup(args.X, "features")
        y = self.lookup(args.y, "labels")
        methods = METHODS
        if args.methods is not None:
            methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
            unknown = [m for m in methods if m not in METHODS]
            if unknown or not methods:
                raise UsageError(f"--methods takes {', '.join(METHODS)}; unknown: {', '.join(unknown) or 'none given'}")
        cv = _positive("--cv", args.cv, 2)
        top = _positive("--top", args.top, 1) if args.top is not None else None
        seed = _positive("--seed", args.seed, 0)
        trees = _positive("--trees", args.trees, 1)
        repeats = _positive("--repeats", args.repeats, 1)
        ranking = rank(
            X, y, methods=methods, cv=cv, random_state=seed, top_k=top, n_estimators=trees, n_repeats=repeats
        )
        if not args.quiet:
            display(ranking)
        return ranking if args.output else None


__all__ = ["FeaturesMagics"]
