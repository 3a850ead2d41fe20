"""``%dashboard [--url URL]``: the dashboard's model table and precision/recall charts in the notebook
(thin over :func:`workbench.dashboard.summary.summary`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import IFrame, display

from workbench.magics.base import WorkbenchMagics


@magics_class
class DashboardMagics(WorkbenchMagics):
    """The live dashboard's summary, from a notebook."""

    @magic_arguments()
    @argument("--url", help="also show a running dashboard (`workbench dashboard`) at this address in a frame")
    @argument("--height", type=int, default=700, help="height of the frame in pixels (default 700)")
    @argument("-o", "--output", action="store_true", help="return the summary (a DashboardSummary)")
    @argument("-q", "--quiet", action="store_true", help="do not display the summary")
    @line_magic
    def dashboard(self, line: str) -> Any:
        """Show every model version with its offline, gate and live figures.

        One row per version: stage, offline precision, recall and F1 from registration,
        the last acceptance gate result, live precision and recall with the number of
        labelled predictions, request rate, p99 latency and the largest feature drift
        (PSI); precision, recall and F1 are macro averages, as everywhere in workbench.
        In a notebook one chart per model follows: precision against recall of every
        version, offline and live. ``--url http://127.0.0.1:8050/`` also shows the running dashboard in a
        frame: open it once with ``?token=`` in this browser (or in the URL given here)
        so the frame is signed in. A store that cannot be read raises its error.
        """
        from workbench.dashboard.summary import summary

        args = parse_argstring(self.dashboard, line)
        if args.url is not None and urlsplit(args.url).scheme not in {"http", "https"}:
            raise UsageError(f"--url must be an http:// or https:// address, not {args.url!r}")
        if args.height < 100:
            raise UsageError("--height must be at least 100 pixels")
        result = summary()
        if not args.quiet:
            display(result)
            if args.url is not None:
                display(IFrame(args.url, width="100%", height=args.height))
        return result if args.output else None


__all__ = ["DashboardMagics"]
