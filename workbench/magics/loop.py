"""``%loop [MODEL]``: where the models' loops stand; pause, resume, force a decision or roll back
(thin over :mod:`workbench.lifecycle.loop`)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from workbench.magics.base import WorkbenchMagics

_ACTIONS = ("pause", "resume", "promote", "retire", "rollback")


@magics_class
class LoopMagics(WorkbenchMagics):
    """The closed loop of the configured store and project, from a notebook."""

    @magic_arguments()
    @argument("model", nargs="?", help="one model (default: every model with a loop policy or state)")
    @argument("--once", action="store_true", help="run one pass of the loop first (a retrain is waited for)")
    @argument("--pause", action="store_true", help="pause MODEL's loop (recorded)")
    @argument("--resume", action="store_true", help="resume MODEL's loop (recorded)")
    @argument("--promote", action="store_true", help="force the decision: promote MODEL's challenger (gated)")
    @argument("--retire", action="store_true", help="force the decision: retire MODEL's challenger")
    @argument("--rollback", action="store_true", help="put back the production version the current one replaced")
    @argument("--reason", default="", help="why, kept in the timeline")
    @argument("--events", type=int, default=20, help="newest timeline events shown (default 20)")
    @argument("-o", "--output", action="store_true", help="return the status (a wb.loop.LoopStatus)")
    @argument("-q", "--quiet", action="store_true", help="do not display the status")
    @line_magic
    def loop(self, line: str) -> Any:
        """Show each model's loop: policy, state, last trigger, the A/B interval and the timeline.

        ``%loop churn --pause --reason "freeze"``, ``--resume``, ``--promote`` / ``--retire``
        (force the decision on the challenger), ``--rollback``: each is recorded with who did
        it. ``%loop --once`` runs one pass of the loop in this kernel first. The long-running
        loop is ``workbench loop`` in a terminal.
        """
        from workbench.lifecycle import loop as loops

        args = parse_argstring(self.loop, line)
        chosen = [action for action in _ACTIONS if getattr(args, action)]
        if len(chosen) > 1:
            raise UsageError(f"choose one of --{', --'.join(_ACTIONS)}, not {len(chosen)}")
        if chosen and args.model is None:
            raise UsageError(f"--{chosen[0]} needs a MODEL")
        if args.once:
            runner = loops.Loop(interval=1.0)
            try:
                runner.run_once(wait=True)
            finally:
                runner.close()
        if chosen == ["pause"]:
            loops.pause(args.model, reason=args.reason)
        elif chosen == ["resume"]:
            loops.resume(args.model)
        elif chosen:
            loops.request(args.model, chosen[0], reason=args.reason)
        found = loops.status(args.model, events=args.events)
        if not args.quiet:
            display(found)
        return found if args.output else None


__all__ = ["LoopMagics"]
