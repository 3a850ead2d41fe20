"""``import workbench`` stays cheap, and the public API is what ``__all__`` says."""

import subprocess
import sys

import workbench

HEAVY = [
    "IPython", "sklearn", "numpy", "pandas", "pyarrow", "ipyparallel", "redis", "line_profiler", "Cython", "papermill",
    "skops",
]


def test_import_workbench_imports_no_heavy_dependency() -> None:
    code = (
        "import sys, workbench; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_resolves() -> None:
    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        workbench.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
