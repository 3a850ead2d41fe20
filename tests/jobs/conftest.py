"""Small notebooks written per test, and a check that no kernel outlives its run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from workbench.storage import open_storage
from workbench.storage.run_store import RunStore

NotebookFactory = Callable[..., Path]


@pytest.fixture
def make_notebook(tmp_path: Path) -> NotebookFactory:
    """``make_notebook("name", "x = 1", "print(x)")``: the first cell is the parameters cell."""

    def make(name: str, *cells: str, parameters: bool = True) -> Path:
        nb = new_notebook(cells=[new_code_cell(source) for source in cells])
        if parameters:
            nb.cells[0].metadata["tags"] = ["parameters"]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = tmp_path / "notebooks" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        nbformat.write(nb, path)
        return path

    return make


@pytest.fixture
def store() -> Iterator[RunStore]:
    with open_storage() as storage:
        yield storage.runs


@pytest.fixture(autouse=True)
def no_kernel_left_behind() -> Iterator[None]:
    yield
    children = psutil.Process().children(recursive=True)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    kernels = [c for c in alive if "ipykernel" in " ".join(c.cmdline())]
    assert not kernels, f"kernel processes left behind: {[c.pid for c in kernels]}"
