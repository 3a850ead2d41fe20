"""The one schema-version rule of every store, SQLite file or Redis prefix alike.

Each store records the version of its layout where it keeps its data (``PRAGMA
user_version`` of a SQLite file; ``<prefix>:<kind>:schema`` in Redis). A reader upgrades
older data in place (every layout change is additive) and refuses data of a newer
layout, which it could only misread.
"""

from __future__ import annotations

from workbench.errors import StorageError


def needs_upgrade(found: int, supported: int, what: str) -> bool:
    """True when data of layout ``found`` must be upgraded to ``supported``; refuses a newer layout.

    ``what`` names the data in the error, e.g. "the run store /home/.workbench/jobs.sqlite".
    """
    if found > supported:
        raise StorageError(
            f"{what} has schema version {found}; this workbench reads up to {supported}",
            hint="upgrade workbench; data written by a newer version is never misread",
            found=found,
            supported=supported,
        )
    return found < supported


__all__ = ["needs_upgrade"]
