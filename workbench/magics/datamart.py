"""``%datamart [NAME]``: list the datasets, or the versions of one (thin over
:mod:`workbench.datamart`)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from workbench.errors import DatasetNotFoundError, InvalidNameError
from workbench.magics.base import WorkbenchMagics


@magics_class
class DatamartMagics(WorkbenchMagics):
    """The datamart of the configured store, from a notebook."""

    @magic_arguments()
    @argument("name", nargs="?", help="list the versions of this dataset (default: every dataset, newest version)")
    @argument("-o", "--output", action="store_true", help="return the listing (a wb.datamart.Datasets)")
    @argument("-q", "--quiet", action="store_true", help="do not display the listing")
    @line_magic
    def datamart(self, line: str) -> Any:
        """List the datasets of the datamart.

        ``%datamart`` shows the newest version of every dataset (name, version, creation
        time, rows, columns, size, description); ``%datamart churn`` every version of
        ``churn``. Read one with ``wb.datamart.get("churn")`` or pin a version with
        ``wb.datamart.get("churn", "VERSION")``.
        """
        from workbench import datamart

        args = parse_argstring(self.datamart, line)
        try:
            listing = datamart.versions(args.name) if args.name is not None else datamart.list()
        except (DatasetNotFoundError, InvalidNameError) as exc:
            raise UsageError(str(exc)) from None
        if not args.quiet:
            display(listing)
        return listing if args.output else None


__all__ = ["DatamartMagics"]
