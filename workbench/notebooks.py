"""Notebook helpers for terminals: print an executed notebook's outputs as text, and
find the nbval sanitize file shipped with the package."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

SANITIZE_FILE = Path(__file__).with_name("nbval_sanitize.cfg")


def _output_text(output: Any) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return str(output.get("text", ""))
    if kind in ("execute_result", "display_data"):
        return str(output.get("data", {}).get("text/plain", ""))
    if kind == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return ""


def notebook_text(path: str | os.PathLike[str]) -> str:
    """Each code cell's source and its text outputs, as a terminal would show them."""
    import nbformat

    try:
        nb = nbformat.read(os.fspath(path), as_version=4)
    except FileNotFoundError:
        raise WorkbenchError(f"no notebook at {path}") from None
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{path} is not a readable notebook: {exc}") from exc
    parts = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        parts.append(f"[{index}] " + cell.source.replace("\n", "\n    "))
        texts = [_output_text(o).rstrip("\n") for o in cell.get("outputs", [])]
        parts += ["  | " + t.replace("\n", "\n  | ") for t in texts if t]
    return "\n".join(parts)


def _show(args: argparse.Namespace) -> int:
    print(notebook_text(args.notebook))
    return 0


def _sanitize_file(args: argparse.Namespace) -> int:
    print(SANITIZE_FILE)
    return 0


def add_commands(subparsers: Any) -> None:
    show = subparsers.add_parser("show", help="print a notebook's code and text outputs")
    show.add_argument("notebook", help="path to an .ipynb file")
    show.set_defaults(func=_show)
    sanitize = subparsers.add_parser(
        "sanitize-file", help="print the path of the nbval sanitize file for workbench output"
    )
    sanitize.set_defaults(func=_sanitize_file)


__all__ = ["SANITIZE_FILE", "add_commands", "notebook_text"]
