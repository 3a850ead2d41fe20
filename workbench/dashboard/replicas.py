"""The serving replicas' part of the dashboard snapshot: per replica the versions it answers
with and its traffic, and the figures of all replicas together.

Read from the replica reports every ``workbench serve`` writes to the prediction store
(:mod:`workbench.serving.replicas`); a replica that stopped reporting drops out within the
reports' time to live. The combined live precision, recall and F1 need nothing here: every
replica writes to the one prediction log, which the models' entries already read.
"""

from __future__ import annotations

from typing import Any

from workbench.storage.replica_records import ReplicaReport


def replica_entries(reports: list[ReplicaReport]) -> dict[str, Any]:
    """``items``: one entry per replica; ``combined``: per model, rows in the last minute over all
    replicas, the production versions answering somewhere, and whether every replica agrees.

    The time of each report is left out: the page is sent again only when what it shows changes.
    """
    items = [
        {
            "replica": r.replica,
            "host": r.host,
            "pid": r.pid,
            "started_at": r.started_at,
            "serving": r.serving,
            "challengers": r.challengers,
            "rows": r.rows,
            "rows_last_minute": r.rows_last_minute,
        }
        for r in reports
    ]
    models = sorted({name for r in reports for name in (*r.serving, *r.rows_last_minute)})
    combined = {
        name: {
            "rows_last_minute": sum(r.rows_last_minute.get(name, 0) for r in reports),
            "versions": sorted({r.serving[name] for r in reports if name in r.serving}),
            "replicas": sum(name in r.serving for r in reports),
            "agree": len({r.serving[name] for r in reports if name in r.serving}) <= 1,
        }
        for name in models
    }
    return {"items": items, "combined": combined}


__all__ = ["replica_entries"]
