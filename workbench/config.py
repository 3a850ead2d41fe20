"""Settings, resolved as: argument > ``WORKBENCH_*`` environment > ``[tool.workbench]``
in the nearest ``pyproject.toml`` > default.

Relative paths from ``pyproject.toml`` are taken relative to the folder that holds it;
relative paths from the environment or an argument, relative to the working directory.
The default home is ``.workbench/`` beside the nearest ``pyproject.toml`` (or in the
working directory when there is none), so a notebook executed from ``notebooks/`` and a
job started at the top of the project share one home.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

ENV_PREFIX = "WORKBENCH_"
DEFAULT_HOME = ".workbench"
DEFAULT_STORE = "local"


@dataclass(frozen=True)
class Settings:
    """Resolved settings; ``sources`` says where each value came from."""

    home: Path
    store: str
    project_root: Path | None = None
    table: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """A sub-table of ``[tool.workbench]``, such as ``acceptance``; empty when absent."""
        value = self.table.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"[tool.workbench.{name}] must be a table, not {type(value).__name__}")
        return value


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_tool_table(pyproject: Path) -> dict[str, Any]:
    """The ``[tool.workbench]`` table of a pyproject file (empty when it has none)."""
    try:
        with pyproject.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}", hint="fix the file's syntax") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {pyproject}: {exc}") from exc
    table = data.get("tool", {}).get("workbench", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.workbench] in {pyproject} must be a table")
    return table


def load_settings(
    *,
    home: str | os.PathLike[str] | None = None,
    store: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the settings for a working directory (default: the current one)."""
    env = os.environ if environ is None else environ
    base = Path(cwd) if cwd is not None else Path.cwd()
    pyproject = find_pyproject(base.resolve())
    root = pyproject.parent if pyproject else None
    table = read_tool_table(pyproject) if pyproject else {}
    sources: dict[str, str] = {}

    def pick(key: str, argument: Any, default: Any) -> tuple[Any, Path]:
        """The value of one setting and the folder its relative paths are taken from."""
        env_key = ENV_PREFIX + key.upper()
        if argument is not None:
            sources[key] = "argument"
            return argument, base
        if env.get(env_key):
            sources[key] = f"environment {env_key}"
            return env[env_key], base
        if key in table:
            value = table[key]
            if not isinstance(value, str):
                raise ConfigError(
                    f"'{key}' in [tool.workbench] of {pyproject} must be a string, not {type(value).__name__}"
                )
            sources[key] = f"{pyproject}"
            return value, root or base
        sources[key] = "default"
        return default, root or base

    home_value, home_base = pick("home", home, DEFAULT_HOME)
    home_path = Path(os.path.expanduser(os.fspath(home_value)))
    if not home_path.is_absolute():
        home_path = home_base / home_path
    store_value, _ = pick("store", store, DEFAULT_STORE)
    return Settings(
        home=home_path.resolve(),
        store=str(store_value),
        project_root=root,
        table=table,
        sources=sources,
    )


__all__ = ["Settings", "find_pyproject", "load_settings", "read_tool_table"]
