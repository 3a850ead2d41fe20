"""Export a refactoring as a production module: the ``.pyx`` plus how to build it.

``export(refactoring, "pkg/fast_metric.pyx")`` writes the chosen variant under the
function's own name (helpers included) and ``build_fast_metric.py`` beside it: a
``setuptools.Extension`` list a package's build can import, and a script that builds the
extension in place (``python build_fast_metric.py build_ext --inplace``), so a job or a
service imports it without a notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cythonize.build import CFLAGS, versions
from workbench.cythonize.codegen import generate
from workbench.errors import CythonizeError
from workbench.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from workbench.cythonize.report import Refactoring

_BUILD_SCRIPT = '''"""Build configuration for {stem}.pyx, written by workbench %cythonize.

In a package: ``from build_{stem} import extensions`` and pass them as ``ext_modules``, with
``[build-system] requires = ["setuptools>=65", "cython>={cython}", "numpy>={numpy}"]``
in its pyproject.toml. Here: ``python build_{stem}.py build_ext --inplace``.
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent

extensions = cythonize(
    [
        Extension(
            "{stem}",
            [str(HERE / "{stem}.pyx")],
            extra_compile_args={flags!r},
            libraries=["m"],
        )
    ],
    compiler_directives={{"language_level": 3}},
)

if __name__ == "__main__":
    os.chdir(HERE)
    setup(name="{stem}", ext_modules=extensions)
'''


def export(refactoring: Refactoring, path: str | Path) -> list[Path]:
    """Write ``path`` (a ``.pyx``) and ``build_<stem>.py`` beside it; return both paths.

    Refuses a refactoring whose check found a difference (EquivalenceError).
    """
    refactoring.function  # noqa: B018 - raises EquivalenceError when a case differed
    target = Path(path)
    if target.suffix != ".pyx" or not target.stem.isidentifier():
        raise CythonizeError(
            f"cannot export to {target.name!r}", hint="give a path like fast_metric.pyx (a module name, then .pyx)"
        )
    functions, helper_returns = refactoring.export_parts
    module = generate(functions, {refactoring.variant: ""}, helper_returns, refactoring.name)
    found = versions()
    script = _BUILD_SCRIPT.format(
        stem=target.stem,
        flags=[f for f in CFLAGS if f not in {"-shared", "-fPIC"}],
        cython=found["cython"],
        numpy=found["numpy"],
    )
    build_script = target.with_name(f"build_{target.stem}.py")
    atomic_write_bytes(target, module.source.encode())
    atomic_write_bytes(build_script, script.encode())
    return [target, build_script]


__all__ = ["export"]
