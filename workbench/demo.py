"""``workbench demo``: the whole path from a training notebook to a served prediction, once.

What ``make demo`` runs, on whatever store the settings name (the embedded one under
``.workbench/`` by default): the notebook as a job (``workbench run``), the acceptance
gates and the promotion of the version it registered (``workbench promote ... --to
production``), a ``workbench serve`` started on a free port that answers one held-out row
of the gates' own data and is stopped, and the command that opens the dashboard. Each step
prints the command a user would type for it, then what it did; a step that fails raises,
so the demo stops there with the reason (exit code of the failing command).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import JobError

if TYPE_CHECKING:
    from workbench.lifecycle.promotion import PromotionResult
    from workbench.serving.probe import ServedPrediction
    from workbench.storage.run_records import Run

STEPS = 5


@dataclass(frozen=True)
class DemoResult:
    """The run, the promotion, the served answer and the row's true label, and the whole time taken."""

    run: Run
    promotion: PromotionResult
    served: ServedPrediction
    label: Any
    seconds: float


def _command_line(notebook: str, parameters: Mapping[str, Any]) -> str:
    shown = " ".join(f"-p {name} {value if value is not None else 'null'}" for name, value in parameters.items())
    return f"workbench run {notebook} {shown}".rstrip()


def _workbench_command() -> str:
    """How to call ``workbench`` from here: the script beside this Python (``.venv/bin/workbench``) if any."""
    script = Path(sys.executable).with_name("workbench")
    if not script.is_file():
        return "workbench"
    try:
        return os.path.relpath(script)
    except ValueError:  # another drive (Windows)
        return str(script)


def _held_out_row(name: str) -> tuple[dict[str, float] | list[float], Any, str]:
    """The first held-out row of ``name``'s gates (features, true label) and where it came from."""
    from workbench.acceptance.config import gate_for
    from workbench.acceptance.holdout import load_holdout

    gate = gate_for(name)
    assert gate is not None  # checked before the promotion
    holdout = load_holdout(gate)
    if hasattr(holdout.X, "iloc"):
        first = holdout.X.iloc[0]
        row: dict[str, float] | list[float] = {str(k): float(v) for k, v in first.items()}
    else:
        row = [float(v) for v in holdout.X[0]]
    label = holdout.y.iloc[0] if hasattr(holdout.y, "iloc") else holdout.y[0]
    return row, label.item() if hasattr(label, "item") else label, holdout.source


def demo(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    kernel: str | None = None,
    serve_timeout: float = 60.0,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run ``notebook`` as a job, promote the version it registered to production through its
    gates, have a fresh ``workbench serve`` answer one held-out row, and stop it.

    The notebook must register exactly one model version (``wb.register``) whose name has
    gates (``[tool.workbench.acceptance.NAME]``): a demo that skipped them would show a
    path to production that real promotions do not take. Raises what the failing step
    raised: :class:`RunFailedError`, :class:`AcceptanceError` (no gates, or they could not
    run), :class:`GateFailedError`, :class:`ServerCheckError`.
    """
    from workbench.acceptance.config import gate_for, no_gates_error
    from workbench.config import load_settings
    from workbench.jobs.runner import run
    from workbench.lifecycle.promotion import promote
    from workbench.serving.probe import predict_once

    started = time.monotonic()
    parameters = dict(parameters or {})
    settings = load_settings()
    say(f"workbench demo: from {notebook} to a served prediction, on the {settings.store} store in {settings.home}")

    say(f"\n[1/{STEPS}] the training job: {_command_line(os.fspath(notebook), parameters)}")
    job = run(notebook, parameters, timeout=timeout, cell_timeout=cell_timeout, kernel=kernel)
    say(str(job))
    if len(job.models) != 1:
        raise JobError(
            f"{notebook} registered {len(job.models)} model versions in run {job.run_id}; the demo needs exactly one",
            hint="the demo's notebook ends with one wb.register(...) call",
        )
    name, version = str(job.models[0]["name"]), int(job.models[0]["version"])
    if gate_for(name) is None:
        raise no_gates_error(name)

    say(f"\n[2/{STEPS}] the acceptance gates of {name} v{version} (pyproject.toml, [tool.workbench.acceptance.{name}])")
    promotion = promote(name, version, "production")
    if promotion.report is not None:
        say(str(promotion.report))

    say(f"\n[3/{STEPS}] promotion: workbench promote {name} {version} --to production")
    say(promotion.summary())

    row, label, source = _held_out_row(name)
    say(f"\n[4/{STEPS}] serving: workbench serve --port 0 --models {name}, asked for one row of {source}, then stopped")
    served = predict_once(name, row, timeout=serve_timeout)
    say(served.banner)
    say(f"{served}; the row's true label is {label!r}")
    say(f"up in {served.seconds_to_healthy:.1f} s, stopped in {served.seconds_to_stop:.1f} s")

    say(f"\n[5/{STEPS}] the dashboard: {_workbench_command()} dashboard   (it prints its address and token)")
    seconds = time.monotonic() - started
    say(f"\nworkbench demo: done in {seconds:.1f} s")
    return DemoResult(run=job, promotion=promotion, served=served, label=label, seconds=seconds)


def _demo(args: argparse.Namespace) -> int:
    from workbench.jobs.cli import _parameters

    demo(
        args.notebook,
        _parameters(args),
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        kernel=args.kernel,
        serve_timeout=args.serve_timeout,
    )
    return 0


def add_commands(subparsers: Any) -> None:
    """Add ``demo`` to the ``workbench`` parser."""
    from workbench.jobs.cli import _add_run_options

    parser = subparsers.add_parser(
        "demo",
        help="the whole path once: run a training notebook, gate and promote its model, serve one prediction",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebook", help="a notebook that registers one model version with wb.register")
    _add_run_options(parser)
    parser.add_argument(
        "--serve-timeout", type=float, default=60.0, metavar="S", help="limit on the server's start (default 60 s)"
    )
    parser.set_defaults(func=_demo)


__all__ = ["STEPS", "DemoResult", "add_commands", "demo"]
