"""The loop's part of the dashboard snapshot: per model, where its loop stands and its timeline.

Read from the loop store as plain JSON (the page renders it as text): phase, pause,
cooldown, the challenger and the current A/B interval, the last trigger, and the newest
:data:`TIMELINE` events (triggers, retrains, gate results, challenger start, decisions).
"""

from __future__ import annotations

from typing import Any

from workbench.storage.loop_store import LoopStore

TIMELINE = 50
"""Newest events per model the page shows."""


def loop_entries(store: LoopStore, events: int = TIMELINE) -> dict[str, dict[str, Any]]:
    """Every model with a loop state, by name."""
    entries = {}
    for state in store.states():
        newest = store.events(state.model, after=max(0, state.events - events))
        entries[state.model] = {
            "phase": state.phase,
            "paused": state.paused,
            "cooldown_until": state.cooldown_until,
            "challenger": state.challenger,
            "evidence": state.evidence,
            "last_trigger": {k: (state.last_trigger or {}).get(k) for k in ("at", "summary")},
            "updated_at": state.updated_at,
            "events": [{"seq": e.seq, "at": e.at, "kind": e.kind, "summary": e.summary, "by": e.by} for e in newest],
        }
    return entries


__all__ = ["TIMELINE", "loop_entries"]
