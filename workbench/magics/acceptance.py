"""``%acceptance NAME``: run a model's acceptance gates and show the table (thin over
:func:`workbench.acceptance.run_gates`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from workbench.errors import (
    AcceptanceError,
    HoldoutError,
    InvalidNameError,
    ModelNotFoundError,
    StageError,
)
from workbench.magics.base import WorkbenchMagics

# the user typed something wrong or named a model without gates: one line, no traceback
_USAGE_ERRORS = (AcceptanceError, InvalidNameError, ModelNotFoundError, StageError)


@magics_class
class AcceptanceMagics(WorkbenchMagics):
    """The acceptance gates of ``[tool.workbench.acceptance]``, from a notebook."""

    @magic_arguments()
    @argument("name", help="the model whose gates run")
    @argument("--version", type=int, help="judge this version (default: the newest)")
    @argument("--stage", help="judge the newest version at this stage")
    @argument("--gates", metavar="MODEL", help="use the gates declared for another model name")
    @argument("-o", "--output", action="store_true", help="return the GateReport")
    @argument("-q", "--quiet", action="store_true", help="do not display the report")
    @line_magic
    def acceptance(self, line: str) -> Any:
        """Run the acceptance gates of a model version and show each criterion.

        ``%acceptance churn`` judges the newest version of ``churn`` against the gates in
        ``[tool.workbench.acceptance.churn]`` of the project's pyproject.toml: each
        threshold with the observed value, its bootstrap interval and the verdict, and
        the confusion matrix. The report is kept with the version in the registry. A
        failing gate raises GateFailedError after the table is shown, so a notebook run
        as a job fails on it.
        """
        from workbench.acceptance.config import gate_for, no_gates_error
        from workbench.acceptance.gates import check, run_gates

        args = parse_argstring(self.acceptance, line)
        try:
            gate = gate_for(args.gates or args.name)
            if gate is None:
                raise no_gates_error(args.gates or args.name)
            if args.gates:
                gate = replace(gate, model=args.name)
            report = run_gates(args.name, version=args.version, stage=args.stage, gate=gate, trigger="magic")
        except HoldoutError:
            raise  # the data is at fault, not the command: a failure with its traceback
        except _USAGE_ERRORS as exc:
            raise UsageError(str(exc)) from None
        if not args.quiet:
            display(report)
        check(report)
        return report if args.output else None


__all__ = ["AcceptanceMagics"]
