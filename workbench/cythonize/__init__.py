"""Refactor a slow Python function into verified, compiled Cython.

``wb.cythonize.refactor(f, X, 3)`` types ``f`` from the sample call, compiles it (with a
build cache under ``<home>/cython-cache/``), checks it against ``f`` on the sample, on
recorded and on generated inputs, and times both; the :class:`Refactoring` it returns
holds the code, the check, the speedup and Cython's annotation. ``%cythonize`` is the
notebook front end. Cython and the C compiler run in subprocesses, only when building.
"""

from workbench.cythonize.export import export
from workbench.cythonize.record import Recorder, record
from workbench.cythonize.refactor import refactor
from workbench.cythonize.report import Refactoring

__all__ = ["Recorder", "Refactoring", "export", "record", "refactor"]
