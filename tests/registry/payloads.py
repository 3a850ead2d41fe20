"""Hostile objects for the security tests: each writes a marker file when it is rebuilt."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_marker(path: str) -> None:
    Path(path).write_text("code ran")


class SetstateMarker:
    """Rebuilt by skops through ``__setstate__``, which writes the marker."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict[str, Any]) -> None:
        write_marker(state["marker"])
        self.__dict__.update(state)


class PickleMarker:
    """Unpickling it calls :func:`write_marker`, the way a malicious pickle runs a command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (write_marker, (self.marker,))
