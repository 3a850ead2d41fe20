"""What a serving replica reports about itself: the versions it answers with and its traffic.

Every ``workbench serve`` process (``--workers``, several machines on one Redis) writes its
:class:`ReplicaReport` to the prediction store every few seconds; the dashboard reads them
all, so it shows per replica the versions served (did every replica swap after a
promotion?) and the rows answered, beside the combined live figures of the shared
prediction log. A report not renewed within its time to live disappears.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import StorageError

MAX_REPLICA_NAME = 200


def check_replica(name: str) -> str:
    """A replica's name (``host:pid`` or ``--replica-name``): printable, 1 to :data:`MAX_REPLICA_NAME` characters."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_REPLICA_NAME or not name.isprintable():
        raise StorageError(f"a replica name must be 1 to {MAX_REPLICA_NAME} printable characters, not {name!r}")
    return name


@dataclass(frozen=True)
class ReplicaReport:
    """One serving process at ``seen_at`` (Unix time).

    ``serving``: model -> production version answering now; ``challengers``: model ->
    challenger version; ``rows``: ``"<model> v<version>"`` -> rows answered since ``started_at``;
    ``rows_last_minute``: model -> rows answered in the 60 s before ``seen_at``.
    """

    replica: str
    host: str
    pid: int
    started_at: float
    seen_at: float
    serving: dict[str, int] = field(default_factory=dict)
    challengers: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rows_last_minute: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_replica(self.replica)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicaReport:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


__all__ = ["MAX_REPLICA_NAME", "ReplicaReport", "check_replica"]
