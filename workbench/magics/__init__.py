"""IPython front ends: thin ``Magics`` classes that parse arguments and call the library."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def magics_classes() -> list[type]:
    """Every workbench ``Magics`` class, imported on demand."""
    from workbench.magics.acceptance import AcceptanceMagics
    from workbench.magics.cythonize import CythonizeMagics
    from workbench.magics.dashboard import DashboardMagics
    from workbench.magics.datamart import DatamartMagics
    from workbench.magics.features import FeaturesMagics
    from workbench.magics.loop import LoopMagics
    from workbench.magics.parallel import ParallelMagics
    from workbench.magics.timing import TimingMagics

    return [
        TimingMagics,
        ParallelMagics,
        CythonizeMagics,
        AcceptanceMagics,
        DatamartMagics,
        FeaturesMagics,
        DashboardMagics,
        LoopMagics,
    ]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    for cls in magics_classes():
        ipython.register_magics(cls)


__all__ = ["load_ipython_extension", "magics_classes"]
