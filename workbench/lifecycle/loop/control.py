"""What a person does to a model's loop: pause it, resume it, force a decision, roll back.

Each is recorded in the model's timeline with who did it. A pause or a resume is one
conditional write (it takes effect at the loop's next step: a step that was under way
when it was written is dropped, never written over it). A decision or a rollback is a
request written the same way, then carried out by whoever holds the model: this process
when no loop runs, else the running loop at its next pass (the call waits for it up to
``wait`` seconds).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from workbench.config import Settings, load_settings
from workbench.errors import LoopError, StorageConflictError
from workbench.lifecycle.loop.engine import Loop
from workbench.lifecycle.loop.policy import Policy, load_policies
from workbench.storage import open_storage
from workbench.storage.loop_records import LoopEvent, LoopState, utc_now
from workbench.storage.loop_store import LoopStore
from workbench.storage.model_store import current_user

ACTIONS = ("promote", "retire", "rollback")
_ATTEMPTS = 50


def _policy(settings: Settings, model: str) -> Policy:
    policies = load_policies(settings)
    if model not in policies:
        known = ", ".join(policies) or "none"
        raise LoopError(f"no loop policy for {model!r}; policies: {known}", hint="declare [tool.workbench.loop.NAME]"
                        " in pyproject.toml (docs/loop.md)", model=model)
    return policies[model]


Change = Callable[[LoopState], tuple[LoopState, list[LoopEvent]] | None]


def _change(loop: LoopStore, model: str, change: Change) -> LoopState:
    """Apply ``change`` to the stored state, reading it again whenever another writer came first."""
    for _ in range(_ATTEMPTS):
        state = loop.state(model)
        changed = change(state)
        if changed is None:
            return state
        try:
            return loop.commit(changed[0], changed[1])[0]
        except StorageConflictError:
            time.sleep(0.01)
    raise LoopError(f"the loop state of {model} kept changing; try again", model=model)


def pause(model: str, *, reason: str = "", by: str | None = None, settings: Settings | None = None) -> LoopState:
    """Pause ``model``'s loop: no trigger is looked at and no step taken until :func:`resume`.

    A training job already running finishes; its version waits, registered, for the resume.
    """
    settings = settings or load_settings()
    _policy(settings, model)
    who = by or current_user()

    def change(state: LoopState) -> tuple[LoopState, list[LoopEvent]] | None:
        if state.paused:
            return None
        paused = {"by": who, "at": utc_now(), "reason": reason}
        line = f"paused by {who}" + (f": {reason}" if reason else "")
        return state.evolve(paused=paused), [LoopEvent(model, "paused", line, paused, by=who)]

    with open_storage(settings) as storage:
        return _change(storage.loop, model, change)


def resume(model: str, *, by: str | None = None, settings: Settings | None = None) -> LoopState:
    """Resume a paused loop (its cooldown, if any, still applies)."""
    settings = settings or load_settings()
    _policy(settings, model)
    who = by or current_user()

    def change(state: LoopState) -> tuple[LoopState, list[LoopEvent]] | None:
        if not state.paused:
            return None
        return state.evolve(paused=None), [LoopEvent(model, "resumed", f"resumed by {who}", {"by": who}, by=who)]

    with open_storage(settings) as storage:
        return _change(storage.loop, model, change)


def request(
    model: str,
    action: str,
    *,
    reason: str = "",
    by: str | None = None,
    settings: Settings | None = None,
    wait: float = 30.0,
) -> list[LoopEvent]:
    """Force a decision on the challenger (``promote``, ``retire``) or ``rollback`` production.

    Returns the events recorded from the request on: the request, and what was done
    (empty of the latter when the running loop has not carried it out within ``wait``
    seconds; it will at its next pass). A promotion still passes the acceptance gates.
    Raises :class:`LoopError` when there is no challenger to decide on, a request is
    already pending, or the request was refused (nothing to roll back to).
    """
    if action not in ACTIONS:
        raise LoopError(f"unknown loop action {action!r}; choose one of {', '.join(ACTIONS)}")
    settings = settings or load_settings()
    policy = _policy(settings, model)
    who = by or current_user()
    marks: list[int] = []

    def change(state: LoopState) -> tuple[LoopState, list[LoopEvent]] | None:
        if state.request:
            pending = state.request
            raise LoopError(f"{pending.get('by')}'s request to {pending.get('action')} {model} is still pending",
                            model=model)
        if action != "rollback" and (state.phase != "challenging" or not state.challenger):
            raise LoopError(f"no challenger to {action}: the loop of {model} is {state.phase}", model=model)
        marks[:] = [state.events]
        asked = {"action": action, "by": who, "at": utc_now(), "reason": reason}
        line = f"{who} asks to {action}" + (f" v{state.challenger['version']}" if state.challenger else "")
        return state.evolve(request=asked), [LoopEvent(model, "requested", line + (f": {reason}" if reason else ""),
                                                       asked, by=who)]

    with open_storage(settings) as storage:
        _change(storage.loop, model, change)
    loop = Loop(settings, policies={model: policy}, interval=1.0, owner=f"{who}@{socket.gethostname()}:{os.getpid()}")
    try:
        loop.step(model, requests_only=True)
        deadline = time.monotonic() + wait
        while loop.storage.loop.state(model).request and time.monotonic() < deadline:
            time.sleep(0.2)
        events = loop.storage.loop.events(model, after=marks[0])
    finally:
        loop.close()
    refused = [e for e in events[1:] if e.kind == "requested" and e.evidence.get("error")]
    if refused:
        raise LoopError(refused[-1].summary, model=model)
    return events


__all__ = ["ACTIONS", "pause", "request", "resume"]
