"""Where each model's loop stands, for ``workbench loop status``, ``%loop`` and scripts.

:func:`status` reads the loop store (state, lease, timeline) beside the policies; the result
prints as text in a terminal and as tables in a notebook.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workbench.config import Settings, load_settings
from workbench.formatting import html_table, text_table
from workbench.lifecycle.loop.policy import Policy, load_policies
from workbench.storage import open_storage
from workbench.storage.loop_records import Lease, LoopEvent, LoopState


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _interval(values: Any) -> str:
    if not isinstance(values, dict):
        return "-"
    return f"{values['estimate']:.3f} [{values['low']:.3f}, {values['high']:.3f}]"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def describe_policy(policy: Policy) -> str:
    """The policy on one line: notebook, triggers, decision rule, cooldown."""
    triggers = []
    if policy.on_new_data:
        triggers.append(f"new data in {policy.on_new_data}")
    if policy.on_drift:
        triggers.append(f"PSI > {policy.on_drift.psi:g} on {policy.on_drift.features}+ features")
    if policy.on_live:
        below = ", ".join(f"{k} < {v:g}" for k, v in policy.on_live.thresholds.items())
        triggers.append(f"live {below} ({policy.on_live.min_labels}+ labels)")
    if policy.schedule:
        triggers.append(f"cron {policy.schedule}")
    rule = policy.decide
    return (
        f"{policy.notebook.name}; retrain on {', '.join(triggers)}; challenger at {policy.challenger_weight:.0%}; "
        f"decide on {rule.metric} at {rule.confidence:.0%} after {rule.min_labels} labels per arm, "
        f"retire after {rule.max_days:g} days; cooldown {_duration(policy.cooldown_s)}"
    )


def describe_state(state: LoopState) -> str:
    """The phase, with what it is about (the job, the challenger, the decision)."""
    text = state.phase
    if state.phase == "retraining" and state.retrain:
        text += f" (run {state.retrain.get('run_id')})"
    elif state.phase == "gating" and state.retrain:
        text += f" (v{state.retrain.get('version')})"
    elif state.phase == "challenging" and state.challenger:
        c = state.challenger
        text += f" (v{c['version']} against production v{c['production']}, {c['weight']:.0%} of traffic)"
    elif state.phase == "deciding" and state.decision:
        text += f" ({state.decision.get('action')} v{state.decision.get('version')})"
    if state.paused:
        text += f"; paused by {state.paused.get('by')}" + (f": {state.paused['reason']}" if state.paused.get("reason")
                                                           else "")
    if state.cooldown_until and datetime.fromisoformat(state.cooldown_until) > datetime.now(UTC):
        text += f"; cooling down until {_when(state.cooldown_until)} UTC"
    if state.request:
        text += f"; {state.request.get('by')} asked to {state.request.get('action')}"
    return text


def describe_evidence(evidence: dict[str, Any] | None) -> str:
    """The current A/B interval on one line."""
    if not evidence:
        return "-"
    return (
        f"{evidence['metric']}: challenger {_interval(evidence['challenger'])} on {evidence['n_challenger']} labels, "
        f"production {_interval(evidence['production'])} on {evidence['n_production']}; difference "
        f"{_interval(evidence['difference'])} at {evidence['confidence']:.0%}: {evidence['verdict']}"
    )


@dataclass(frozen=True)
class ModelLoop:
    """One model's loop: its policy (``None`` when it was removed from pyproject.toml), state,
    lease and newest events (oldest first)."""

    model: str
    policy: Policy | None
    state: LoopState
    lease: Lease | None
    events: list[LoopEvent] = field(default_factory=list)

    def facts(self) -> list[tuple[str, str]]:
        facts = [
            ("policy", describe_policy(self.policy) if self.policy else "none (removed from pyproject.toml)"),
            ("state", describe_state(self.state)),
            ("acting", f"{self.lease.owner}" if self.lease else "no loop process holds it"),
            ("last trigger", f"{_when((self.state.last_trigger or {}).get('at'))} "
                             f"{(self.state.last_trigger or {}).get('summary', '')}".strip()),
            ("A/B", describe_evidence(self.state.evidence)),
        ]
        return facts

    def to_record(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "policy": self.policy.to_record() if self.policy else None,
            "state": self.state.to_dict(),
            "lease": {"owner": self.lease.owner, "expires_at": self.lease.expires_at} if self.lease else None,
            "events": [e.to_dict() for e in self.events],
        }

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self.facts())
        lines = [self.model] + [f"  {k.ljust(width)}  {v}" for k, v in self.facts()]
        if self.events:
            lines.append("  timeline (oldest first):")
            lines += [f"    #{e.seq:<3} {_when(e.at)}  {e.kind:<14} {e.summary}" for e in self.events]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        facts = html_table(["", ""], [(html.escape(k), html.escape(v)) for k, v in self.facts()])
        rows = [(str(e.seq), html.escape(_when(e.at)), html.escape(e.kind), html.escape(e.summary))
                for e in self.events]
        timeline = html_table(["#", "at (UTC)", "event", "what"], rows) if rows else ""
        return f"<div class='workbench-loop'><h4>{html.escape(self.model)}</h4>{facts}{timeline}</div>"


@dataclass(frozen=True)
class LoopStatus:
    """Every model with a loop policy or a stored loop state."""

    models: list[ModelLoop]

    def __getitem__(self, model: str) -> ModelLoop:
        for entry in self.models:
            if entry.model == model:
                return entry
        raise KeyError(model)

    def to_record(self) -> list[dict[str, Any]]:
        return [m.to_record() for m in self.models]

    def table(self) -> str:
        rows = [
            (m.model, describe_state(m.state), (m.events[-1].kind + ": " + m.events[-1].summary) if m.events else "-")
            for m in self.models
        ]
        return text_table(["model", "state", "last event"], rows)

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        if not self.models:
            return "no loop policy ([tool.workbench.loop.NAME] in pyproject.toml) and no loop state"
        if len(self.models) == 1:
            return str(self.models[0])
        return self.table()

    def _repr_html_(self) -> str:
        if not self.models:
            return f"<p>{html.escape(str(self))}</p>"
        return "".join(m._repr_html_() for m in self.models)


def status(model: str | None = None, *, settings: Settings | None = None, events: int = 20) -> LoopStatus:
    """The loops of every model (or of ``model``) with their newest ``events`` events."""
    settings = settings or load_settings()
    policies = load_policies(settings)
    with open_storage(settings) as storage:
        loop = storage.loop
        stored = {s.model: s for s in loop.states()}
        names = sorted(set(policies) | set(stored)) if model is None else [model]
        entries = []
        for name in names:
            state = stored.get(name) or loop.state(name)
            newest = loop.events(name, after=max(0, state.events - events)) if events > 0 else []
            entries.append(ModelLoop(name, policies.get(name), state, loop.lease(name), newest))
    return LoopStatus(entries)


__all__ = ["LoopStatus", "ModelLoop", "describe_evidence", "describe_policy", "describe_state", "status"]
