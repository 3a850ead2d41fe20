"""How much a client may ask of the server's connections: header sizes, timeouts, Thrift connections.

Each limit is read from, in order: the ``workbench serve`` flag, the key of the same name in
``[tool.workbench.serving]`` of ``pyproject.toml``, the default here. See docs/serving.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from workbench.config import Settings
from workbench.errors import ConfigError


@dataclass(frozen=True)
class ConnectionLimits:
    """Limits on what HTTP and Thrift connections may hold and for how long (seconds)."""

    max_header_bytes: int = 65_536
    """The request line and headers of one HTTP request (431 beyond)."""
    max_headers: int = 100
    """Header lines of one HTTP request (431 beyond)."""
    header_timeout: float = 10.0
    """From a request's first byte to the end of its headers (408, then the connection is closed)."""
    body_timeout: float = 30.0
    """From the end of a request's headers to the end of its body (408, then closed)."""
    keep_alive_timeout: float = 5.0
    """How long a connection may stay idle, before its first request or between two (then closed)."""
    thrift_max_connections: int = 256
    """Open Thrift connections in all (a new one beyond is closed at once)."""
    thrift_max_connections_per_client: int = 32
    """Open Thrift connections from one client address (a new one beyond is closed at once)."""
    thrift_idle_timeout: float = 5.0
    """How long a new Thrift connection may stay silent before its first byte (then closed)."""
    thrift_timeout: float = 30.0
    """How long a Thrift connection may wait for its next frame, or take to send one or read a reply."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            integral = item.type == "int"
            if isinstance(value, bool) or not isinstance(value, int if integral else int | float):
                raise ConfigError(f"{item.name} must be a {'whole ' if integral else ''}number, not {value!r}")
            if not (value >= 1 if integral else 0 < value < math.inf):
                raise ConfigError(f"{item.name} must be positive, not {value!r}")

    @classmethod
    def resolve(cls, settings: Settings | None = None, **given: Any) -> ConnectionLimits:
        """The limits from ``given`` (values of ``None`` left out), else ``[tool.workbench.serving]``, else defaults."""
        table = settings.section("serving") if settings is not None else {}
        names = {item.name for item in fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise TypeError(f"unknown connection limits: {', '.join(unknown)}")
        values = {name: table[name] for name in names if name in table}
        values.update({name: value for name, value in given.items() if value is not None})
        return cls(**values)


__all__ = ["ConnectionLimits"]
