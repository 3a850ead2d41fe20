"""Validation of names that become store keys or file names (models, baselines, jobs).

A safe name is checked, never repaired: anything outside a small character set is
refused, so no user text can reach a file path, a Redis key pattern or a URL unchecked.
"""

from __future__ import annotations

import re

from workbench.errors import InvalidNameError

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def validate_name(name: object, kind: str = "name") -> str:
    """Return ``name`` unchanged when it is safe; raise :class:`InvalidNameError` otherwise.

    Safe: 1-128 characters of letters, digits, ``.``, ``_`` and ``-``, starting with a
    letter or digit, with no ``..``. This refuses path separators, percent-encoding,
    control characters, NUL, whitespace and glob characters by construction.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} must be a string, not {type(name).__name__}", name=repr(name))
    if not _SAFE.fullmatch(name) or ".." in name:
        raise InvalidNameError(f"{kind} {name!r} is not allowed", name=name)
    return name


__all__ = ["validate_name"]
