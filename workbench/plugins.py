"""Plugin registries fed by entry points, built-ins included.

Each kind of plugin (timers, model formats, stores) is a :class:`PluginRegistry` for
one entry-point group. Our own built-ins are declared in ``pyproject.toml`` exactly as
a third-party package would declare its own, so there is one lookup path. Entry points
are read on first lookup, not at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from workbench.errors import PluginNotFoundError

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    """Named plugins of one kind: registered in code, or found in an entry-point group."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._registered: dict[str, T] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, plugin: T) -> None:
        """Make ``plugin`` available as ``name`` in this process (wins over entry points)."""
        self._registered[name] = plugin

    def unregister(self, name: str) -> None:
        self._registered.pop(name, None)
        self._loaded.pop(name, None)

    def _entry_points(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Every name available now, registered or installed."""
        return sorted(set(self._registered) | set(self._entry_points()))

    def get(self, name: str) -> T:
        """The plugin called ``name``; raises :class:`PluginNotFoundError` naming what exists."""
        if name in self._registered:
            return self._registered[name]
        if name in self._loaded:
            return self._loaded[name]
        found = self._entry_points().get(name)
        if found is None:
            available = ", ".join(self.names()) or "none"
            raise PluginNotFoundError(
                f"no {self.kind} named {name!r}; available: {available}",
                hint=f"install a package that declares it in the entry-point group {self.group!r}",
                plugin=name,
                group=self.group,
            )
        plugin: T = found.load()
        self._loaded[name] = plugin
        return plugin

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()


__all__ = ["PluginRegistry"]
