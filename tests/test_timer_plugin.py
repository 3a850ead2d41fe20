"""A third-party timer installed as a real package, used from %wtime --timer."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

PYPROJECT = textwrap.dedent(
    """
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "tick-timer"
    version = "1.0"

    [project.entry-points."workbench.timers"]
    ticks = "tick_timer:ticks"

    [tool.hatch.build.targets.wheel]
    packages = ["tick_timer"]
    """
)

MODULE = textwrap.dedent(
    """
    import itertools
    _count = itertools.count()

    def ticks():
        # every reading is one 'second' later: one loop of anything takes 1 s
        return float(next(_count))
    """
)


def test_installed_timer_plugin_is_usable_from_the_magic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "tick-timer"
    (source / "tick_timer").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "tick_timer" / "__init__.py").write_text(MODULE)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        check=True,
        timeout=120,
    )
    monkeypatch.syspath_prepend(str(target))
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "workbench")
        result = shell.run_line_magic("wtime", "-o -q -n 4 -r 3 --timer ticks pass")
    finally:
        InteractiveShell.clear_instance()
        sys.modules.pop("tick_timer", None)
    assert result.timer == "ticks"
    assert result.runs == [0.25, 0.25, 0.25]  # two readings one tick apart, over 4 loops
