"""``%wtime``, ``%wcompare`` and ``%whot``: thin front ends over :mod:`workbench.timing`
and :mod:`workbench.profiling`."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from workbench.baselines import BaselineStore, parse_tolerance
from workbench.errors import (
    BaselineNotFoundError,
    ConfigError,
    InvalidNameError,
    PluginNotFoundError,
    TimingError,
)
from workbench.magics.args import split_assignments, split_options
from workbench.magics.base import WorkbenchMagics
from workbench.profiling import hotspots
from workbench.timing import Comparison, Timing, TimingHistory, compare, measure

# errors that mean the user typed something wrong: shown as one line, no traceback
_USAGE_ERRORS = (TimingError, PluginNotFoundError, BaselineNotFoundError, InvalidNameError, ConfigError)


@magics_class
class TimingMagics(WorkbenchMagics):
    """Timing and hot-spot magics; labelled timings are kept in ``self.history``."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self.history = TimingHistory()

    def _code(self, text: str) -> str:
        """IPython syntax (magics, ``!cmd``) turned into Python, as %timeit does."""
        return self.shell.transform_cell(text) if self.shell is not None else text

    def _show(self, result: object, quiet: bool) -> None:
        if not quiet:
            display(result)

    @magic_arguments()
    @argument("-n", "--number", type=int, help="loops per run (default: as many as fit in 0.2 s)")
    @argument("-r", "--repeat", type=int, default=7, help="runs; the median is reported (default 7)")
    @argument("-o", "--output", action="store_true", help="return the Timing object")
    @argument("-q", "--quiet", action="store_true", help="do not display the result")
    @argument("--timer", default="wall", help="timer plugin: wall, cpu, thread or an installed one")
    @argument("--memory", action="store_true", help="also measure peak allocation (in a separate run)")
    @argument("--label", help="keep the result in the session history under this label")
    @argument("--history", action="store_true", help="show the labelled timings of this session")
    @argument("--save-baseline", metavar="NAME", help="save the result as baseline NAME")
    @argument("--baseline", metavar="NAME", help="fail when slower than baseline NAME beyond --tolerance")
    @argument("--tolerance", default="10%", help="allowed slowdown against --baseline (default 10%%)")
    @argument("statement", nargs="*", help="code to time; in a cell, the first line is setup")
    @no_var_expand
    @line_cell_magic
    def wtime(self, line: str, cell: str | None = None) -> Timing | None:
        """Time a statement: median of several runs, with its spread.

        Usage, in a line: ``%wtime [options] statement``; in a cell: ``%%wtime [options]
        setup`` followed by the code to time. The number of loops is chosen so a run takes
        about 0.2 s. A large spread between runs is flagged. With ``--baseline NAME`` the
        magic raises PerformanceRegression when slower than the saved baseline beyond the
        tolerance, so a notebook run as a job or under nbval fails on a regression.
        """
        args, rest = split_options(self.wtime.parser, line)
        if args.history:
            self._show(self.history, quiet=False)
            return None
        setup, stmt = ("pass", rest) if cell is None else (rest or "pass", cell)
        if not stmt.strip():
            raise UsageError("nothing to time: %wtime [options] statement")
        store = BaselineStore()
        try:
            tolerance = parse_tolerance(args.tolerance)
            if args.baseline:
                store.load(args.baseline)  # an unknown baseline is a usage error, found before timing
            timing = measure(
                self._code(stmt),
                self._code(setup),
                namespace=self.user_ns,
                number=args.number,
                repeat=args.repeat,
                timer=args.timer,
                memory=args.memory,
                label=args.label,
            )
            if args.save_baseline:
                store.save(args.save_baseline, timing)
        except _USAGE_ERRORS as exc:
            raise UsageError(str(exc)) from None
        timing.stmt = stmt.strip()
        if args.label:
            self.history.add(timing)
        self._show(timing, args.quiet)
        if args.baseline:
            check = store.check(args.baseline, timing, tolerance)
            if not args.quiet:
                print(check)
        return timing if args.output else None

    @magic_arguments()
    @argument("-n", "--number", type=int, help="loops per run (default: as many as fit in 0.2 s)")
    @argument("-r", "--repeat", type=int, default=7, help="interleaved rounds (default 7)")
    @argument("-o", "--output", action="store_true", help="return the Comparison object")
    @argument("-q", "--quiet", action="store_true", help="do not display the result")
    @argument("--timer", default="wall", help="timer plugin: wall, cpu, thread or an installed one")
    @argument("candidates", nargs="*", help="name=EXPR ...; in a cell, one per line, first line setup")
    @no_var_expand
    @line_cell_magic
    def wcompare(self, line: str, cell: str | None = None) -> Comparison | None:
        """Compare candidates run interleaved (A B A B ...), with ratios to the first.

        ``%wcompare lr=lr.predict(X) rf=rf.predict(X)`` reports each candidate's median,
        its ratio to the first candidate with a 95% bootstrap confidence interval, and, in
        the notebook, a bar chart on a log time axis that says "662x faster" or "2x slower".
        In a cell, the line after the options is setup code and each line of the body is
        ``name=EXPR``.
        """
        args, rest = split_options(self.wcompare.parser, line)
        setup, text = ("pass", rest) if cell is None else (rest or "pass", cell)
        candidates = {name: self._code(code) for name, code in split_assignments(text).items()}
        try:
            result = compare(
                candidates,
                self._code(setup),
                namespace=self.user_ns,
                number=args.number,
                repeat=args.repeat,
                timer=args.timer,
            )
        except _USAGE_ERRORS as exc:
            raise UsageError(str(exc)) from None
        self._show(result, args.quiet)
        return result if args.output else None

    @magic_arguments()
    @argument("-t", "--top", type=int, default=10, help="lines to show (default 10)")
    @argument(
        "-f", "--function", action="append", default=[], metavar="NAME",
        help="profile only this function (repeatable); skips discovery, so stmt runs once",
    )
    @argument("-o", "--output", action="store_true", help="return the HotSpots object")
    @argument("-q", "--quiet", action="store_true", help="do not display the result")
    @argument("statement", nargs="*", help="code to profile (or the cell body)")
    @no_var_expand
    @line_cell_magic
    def whot(self, line: str, cell: str | None = None) -> Any:
        """Find the hot lines of your own code.

        Runs the statement once to find the functions it reaches that were defined in the
        notebook or the project (not the standard library or installed packages), then
        again under line_profiler over them, and names the function worth refactoring.
        """
        args, rest = split_options(self.whot.parser, line)
        stmt = rest if cell is None else cell
        if not stmt.strip():
            raise UsageError("nothing to profile: %whot [options] statement")
        functions = None
        if args.function:
            functions = [self.lookup(name, "function") for name in args.function]
        try:
            result = hotspots(
                self._code(stmt), namespace=self.user_ns, functions=functions, top=args.top
            )
        except TimingError as exc:
            raise UsageError(str(exc)) from None
        result.stmt = stmt.strip()
        self._show(result, args.quiet)
        return result if args.output else None


__all__ = ["TimingMagics"]
