"""The loop: for each policy, one step at a time, from the state in the store.

::

    idle --trigger--> retraining --job succeeded--> gating --gates passed--> challenging
      ^                   |                            |                        |
      |            job failed (cooldown)      gates refused (cooldown)   evidence decides
      |                                                                        v
      +----------------- promoted | retired (cooldown) <----------------- deciding

Every step reads the model's state, claims the model's lease (one loop process acts on a
model at a time; another skips it), records what it is about to do and only then does it:
a training job is started after its run id is recorded, a decision is carried out after it
is recorded. A loop killed at any point therefore resumes from the store: it waits for the
job it had started (never starting a second), and carries out a recorded decision
(promotion and archiving are idempotent, checked against the registry first), never losing
it. Writes are conditional on the state's revision and fenced by the lease
(:mod:`workbench.storage.loop_store`), so a person's pause or a request written meanwhile is
never overwritten: the step is dropped and the next pass reads the new state.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from workbench.config import Settings, load_settings
from workbench.errors import (
    LeaseLostError,
    LoopError,
    ModelNotFoundError,
    StorageConflictError,
    StorageUnavailableError,
    WorkbenchError,
)
from workbench.jobs.runner import new_run_id
from workbench.lifecycle.loop import retrain as jobs
from workbench.lifecycle.loop.evidence import decide, gather
from workbench.lifecycle.loop.policy import Policy, load_policies
from workbench.lifecycle.loop.triggers import Look, look
from workbench.lifecycle.promotion import PromotionResult, promote
from workbench.registry.api import Registry
from workbench.serving.predlog import PredictionLog
from workbench.storage import Storage, open_storage
from workbench.storage.backend import scheme_of
from workbench.storage.loop_records import LoopEvent, LoopState, utc_now
from workbench.storage.model_records import ModelVersion

log = logging.getLogger("workbench.loop")

OFFLINE = ("precision_macro", "recall_macro", "f1_macro", "accuracy", "roc_auc")


def owner_name() -> str:
    """The name a loop process holds leases under: ``loop@host:pid:token``."""
    return f"loop@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _acted_on(policy: Policy, seen: Look) -> str | None:
    """The new data a retrain takes in: the trigger's dataset is then no longer new."""
    new = [f for f in seen.fired if f.kind == "new_data"]
    if new:
        return f"{new[0].evidence['dataset']}@{new[0].evidence['version']}"
    return seen.data_seen


def check_shared(settings: Settings) -> None:
    """Refuse a store that the training jobs' processes cannot see (``memory``)."""
    if scheme_of(settings.store) == "memory":
        raise LoopError(
            "the loop runs training jobs in processes of their own, which cannot see a memory store",
            hint="use WORKBENCH_STORE=local (the default) or redis://host:port/db",
        )


class Loop:
    """The loop over ``policies`` (default: those of the settings' pyproject.toml).

    ``interval`` is the pause between passes of :meth:`serve`; ``lease_s`` how long a model
    stays this process's after its last renewal (default ``max(30, 3 * interval)``): the time
    another loop waits before taking over from one that died. Close it to release its leases.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        policies: Mapping[str, Policy] | None = None,
        interval: float = 30.0,
        lease_s: float | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.policies = dict(load_policies(self.settings) if policies is None else policies)
        self.interval = interval
        self.lease_s = lease_s or max(30.0, 3 * interval)
        self.owner = owner or owner_name()
        self.storage: Storage = open_storage(self.settings)
        self.registry = Registry(self.storage.models)
        models = self.storage.models
        self.predictions = PredictionLog(self.storage.predictions, models.get_version, on_close=lambda: None)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- passes ---------------------------------------------------------------------------

    def run_once(self, *, wait: bool = False) -> dict[str, str]:
        """One pass over every policy; what each model's step came to (see :meth:`step`).

        With ``wait``, each model is carried as far as it can go now: a retrain it starts is
        waited for, gated and made challenger before the pass moves on.
        """
        results = {}
        for model in self.policies:
            outcome = self._guarded(model)
            while wait and outcome in ("acted", "training") and not self._stop.is_set():
                if outcome == "training":
                    self._stop.wait(min(1.0, self.interval))
                outcome = self._guarded(model)
            results[model] = outcome
        return results

    def serve(self) -> None:
        """Pass over the policies every ``interval`` seconds until :meth:`stop` (or Ctrl-C)."""
        log.info("loop %s watching %s every %g s", self.owner, ", ".join(self.policies) or "nothing", self.interval)
        try:
            while not self._stop.is_set():
                self.run_once()
                self._stop.wait(self.interval)
        finally:
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Release this process's leases and the store (training jobs it started go on)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=30)
        with self._lock:
            held, self._held = set(self._held), set()
        for model in held:
            try:
                self.storage.loop.release(model, self.owner)
            except WorkbenchError as exc:
                log.warning("could not release the loop of %s: %s", model, exc)
        self.storage.close()

    def _guarded(self, model: str) -> str:
        """:meth:`step`, with the store's outage or a model's failure logged instead of raised."""
        try:
            return self.step(model)
        except StorageUnavailableError as exc:
            log.warning("%s: the store is unavailable; retrying at the next pass: %s", model, exc)
            return "unavailable"
        except WorkbenchError as exc:
            log.error("%s: %s", model, exc)
            return "error"
        except Exception:
            log.exception("%s: the step failed", model)
            return "error"

    # -- one step -------------------------------------------------------------------------

    def step(self, model: str, *, requests_only: bool = False) -> str:
        """Carry ``model``'s loop one step; what it came to: ``acted`` (the state moved on),
        ``training`` (waiting for the job), ``collecting`` (waiting for evidence), ``idle``,
        ``cooldown``, ``paused``, ``elsewhere`` (another process holds the model) or
        ``conflict`` (the state changed meanwhile; the next pass reads it again).

        ``requests_only`` carries out a person's request or a recorded decision and nothing else.
        """
        self._reap()
        policy = self.policies[model]
        loop = self.storage.loop
        if not loop.claim(model, self.owner, self.lease_s):
            return "elsewhere"
        with self._lock:
            self._held.add(model)
        self._start_heartbeat()
        state = loop.state(model)
        try:
            if state.request:
                return self._request(policy, state)
            if state.phase == "deciding":
                return self._carry_out(policy, state)
            if requests_only:
                return state.phase
            if state.paused:
                return "paused"
            if state.phase == "retraining":
                return self._follow(policy, state)
            if state.phase == "gating":
                return self._gate(policy, state)
            if state.phase == "challenging":
                return self._challenge(policy, state)
            return self._watch(policy, state)
        except LeaseLostError:
            with self._lock:
                self._held.discard(model)
            log.warning("%s: another loop took over; leaving it alone", model)
            return "elsewhere"
        except StorageConflictError:
            return "conflict"

    def _event(self, policy: Policy, kind: str, summary: str, evidence: dict[str, Any] | None = None,
               by: str | None = None) -> LoopEvent:
        return LoopEvent(model=policy.model, kind=kind, summary=summary, evidence=evidence or {}, by=by or self.owner)

    def _commit(self, state: LoopState, *events: LoopEvent, **changes: Any) -> LoopState:
        written, numbered = self.storage.loop.commit(state.evolve(**changes), events, owner=self.owner)
        for event in numbered:
            log.info("%s #%d %s: %s", event.model, event.seq, event.kind, event.summary)
        return written

    def _cooldown(self, policy: Policy) -> str:
        return _iso(time.time() + policy.cooldown_s)

    def _production(self, model: str) -> ModelVersion | None:
        try:
            return self.registry.get(model, stage="production")
        except ModelNotFoundError:
            return None

    def _promote(self, model: str, version: int, stage: str, *, weight: float | None = None,
                 action: str = "loop") -> PromotionResult | str:
        """The promotion step (gates included); a refusal it could not even judge comes back as its reason."""
        try:
            return promote(model, version, stage, weight=weight, action=action, registry=self.registry,
                           raise_on_refusal=False)
        except StorageUnavailableError:
            raise
        except WorkbenchError as exc:
            return str(exc)

    # -- idle: triggers --------------------------------------------------------------------

    def _watch(self, policy: Policy, state: LoopState) -> str:
        if state.cooldown_until and datetime.fromisoformat(state.cooldown_until) > datetime.now(UTC):
            return "cooldown"
        production = self._production(policy.model)
        seen = look(policy, state, datamarts=self.storage.datamarts, log=self.predictions, production=production)
        if not seen.fired:
            if (seen.data_seen, seen.cron_last) != (state.data_seen, state.cron_last):
                self._commit(state, data_seen=seen.data_seen, cron_last=seen.cron_last)
            return "idle"
        return self._start_retrain(policy, state, seen, production)

    def _start_retrain(self, policy: Policy, state: LoopState, seen: Look, production: ModelVersion | None) -> str:
        check_shared(self.settings)
        now = time.time()
        run_id = new_run_id()
        parameters = dict(policy.parameters)
        if seen.dataset:
            parameters[policy.data_parameter] = seen.dataset
        summary = "; ".join(f.summary for f in seen.fired)
        triggered = {"triggers": [{"kind": f.kind, "summary": f.summary, **f.evidence} for f in seen.fired]}
        retrain = {
            "run_id": run_id,
            "started": now,
            "started_at": _iso(now),
            "notebook": str(policy.notebook),
            "parameters": parameters,
            "dataset": seen.dataset,
            "trigger": summary,
            "production": production.version if production else None,
            "host": socket.gethostname(),
            "pid": None,
        }
        on_data = f" on {seen.dataset}" if seen.dataset else ""
        state = self._commit(
            state,
            self._event(policy, "trigger", summary, triggered),
            self._event(policy, "retrain", f"training job {run_id} of {policy.notebook.name}{on_data}",
                        {"run_id": run_id, "notebook": str(policy.notebook), "parameters": parameters,
                         "dataset": seen.dataset}),
            phase="retraining",
            retrain=retrain,
            data_seen=_acted_on(policy, seen),
            cron_last=seen.cron_last,
            last_trigger={"at": _iso(now), "summary": summary, **triggered},
        )
        try:
            child = jobs.start_job(policy, self.settings, run_id, parameters)
        except OSError as exc:
            self._commit(state, self._event(policy, "retrain_failed", f"training job {run_id} could not start: {exc}",
                                            {"run_id": run_id, "reason": "never_started", "error": str(exc)}),
                         phase="idle", retrain=None, cooldown_until=self._cooldown(policy))
            return "acted"
        self._children[run_id] = child
        self._record_pid(state, run_id, child.pid)
        return "acted"

    def _record_pid(self, state: LoopState, run_id: str, pid: int) -> None:
        """Note the job's process in the state (retried over a person's concurrent write)."""
        for _ in range(5):
            retrain = state.retrain or {}
            if state.phase != "retraining" or retrain.get("run_id") != run_id:
                return
            try:
                self._commit(state, retrain={**retrain, "pid": pid})
                return
            except LeaseLostError:
                raise
            except StorageConflictError:
                state = self.storage.loop.state(state.model)

    def _reap(self) -> None:
        """Collect the exit status of finished training jobs this process started."""
        for run_id, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[run_id]

    # -- retraining ------------------------------------------------------------------------

    def _follow(self, policy: Policy, state: LoopState) -> str:
        retrain = state.retrain or {}
        run_id = str(retrain.get("run_id"))
        outcome = jobs.follow(retrain, policy, self.storage.runs, self.settings, child=self._children.get(run_id),
                              now=time.time())
        if outcome.status == "running":
            return "training"
        if outcome.status == "failed":
            evidence = {"run_id": run_id, "reason": outcome.reason, "error": outcome.error,
                        "log": str(self.settings.home / "loop" / f"{run_id}.log")}
            production = retrain.get("production")
            untouched = f"; production v{production} untouched" if production else ""
            self._commit(
                state,
                self._event(policy, "retrain_failed",
                            f"training job {run_id} failed ({outcome.reason}): {outcome.error}{untouched}", evidence),
                phase="idle", retrain=None, cooldown_until=self._cooldown(policy),
            )
            return "acted"
        assert outcome.version is not None
        version = self.registry.get(policy.model, version=outcome.version)
        lineage = ", ".join(f"{d.get('name')}@{d.get('version')}" for d in version.datasets)
        trained_on = f", trained on {lineage}" if lineage else ""
        metrics = {k: round(v, 4) for k, v in version.metrics.items() if k in OFFLINE}
        self._commit(
            state,
            self._event(policy, "retrained",
                        f"v{version.version} registered by run {run_id}{trained_on}",
                        {"version": version.version, "run_id": run_id, "datasets": version.datasets,
                         "metrics": metrics}),
            phase="gating", retrain={**retrain, "version": version.version},
        )
        return "acted"

    # -- gating ----------------------------------------------------------------------------

    def _gate(self, policy: Policy, state: LoopState) -> str:
        retrain = state.retrain or {}
        number = int(retrain["version"])
        target = self.registry.get(policy.model, version=number)
        production = self._production(policy.model)
        stage = "challenger" if production is not None and production.version != number else "production"
        weight = policy.challenger_weight if stage == "challenger" else None
        if target.stage == stage:  # promoted before this loop (or another) stopped
            gates = self.registry.gate_results(policy.model, number)
            outcome, report, error = ("passed" if gates and gates[-1].get("passed") else "none"), None, None
            promoted = True
        else:
            result = self._promote(policy.model, number, stage, weight=weight)
            if isinstance(result, str):
                outcome, report, error, promoted = "error", None, result, False
            else:
                outcome, error, promoted = result.gate or "none", result.error, result.promoted
                report = result.report.to_record() if result.report is not None else None
        evidence = {"version": number, "outcome": outcome, "error": error, "report": report, "stage": stage}
        said = "no acceptance gates declared" if outcome == "none" else f"acceptance gates {outcome}"
        if not promoted:
            why = f": {error}" if error else ""
            self._commit(
                state,
                self._event(policy, "gate", f"v{number}: {said}{why}; not promoted, production untouched", evidence),
                phase="idle", retrain=None, cooldown_until=self._cooldown(policy),
            )
            return "acted"
        gate = self._event(policy, "gate", f"v{number}: {said}", evidence)
        if stage == "production":
            self._commit(
                state, gate, self._event(policy, "promoted", f"v{number} is production (there was none)",
                                         {"version": number, "replaced": None}),
                phase="idle", retrain=None, cooldown_until=self._cooldown(policy),
            )
            return "acted"
        assert production is not None and weight is not None
        now = time.time()
        challenger = {"version": number, "production": production.version, "since": now, "since_at": _iso(now),
                      "weight": weight, "run_id": retrain.get("run_id")}
        self._commit(
            state,
            gate,
            self._event(policy, "challenger",
                        f"v{number} answers {weight:.0%} of traffic against production v{production.version}",
                        challenger),
            phase="challenging", retrain=None, challenger=challenger, evidence=None,
        )
        return "acted"

    # -- challenging: the online decision --------------------------------------------------

    def _challenge(self, policy: Policy, state: LoopState) -> str:
        current = state.challenger or {}
        number, versus = int(current["version"]), int(current["production"])
        challenger = self.registry.get(policy.model, version=number)
        production = self._production(policy.model)
        if challenger.stage != "challenger" or production is None or production.version != versus:
            now_production = f"v{production.version}" if production else "none"
            self._commit(
                state,
                self._event(policy, "ended",
                            f"the challenge of v{number} ended outside the loop: v{number} is {challenger.stage}, "
                            f"production is {now_production}",
                            {"version": number, "stage": challenger.stage,
                             "production": production.version if production else None}),
                phase="idle", challenger=None, cooldown_until=self._cooldown(policy),
            )
            return "acted"
        since = float(current["since"])
        comparison = gather(self.storage.predictions, production, challenger, since, policy.decide)
        decision = decide(comparison, policy.decide, since)
        record = comparison.to_record()
        if decision.action is None:
            old = state.evidence or {}
            if (old.get("n_production"), old.get("n_challenger")) != (comparison.n_production, comparison.n_challenger):
                self._commit(state, evidence=record)
            return "collecting"
        decided = {"action": decision.action, "reason": decision.reason, "version": number, "production": versus,
                   "evidence": record, "by": self.owner, "forced": False, "at": utc_now()}
        state = self._commit(
            state,
            self._event(policy, "decision", f"{decision.action} v{number}: {decision.reason}", decided),
            phase="deciding", decision=decided, evidence=record,
        )
        return self._carry_out(policy, state)

    def _carry_out(self, policy: Policy, state: LoopState) -> str:
        """Carry out the recorded decision (again, harmlessly, after a stop)."""
        decided = state.decision or {}
        number, versus = int(decided["version"]), decided.get("production")
        target = self.registry.get(policy.model, version=number)
        base = {"version": number, "production": versus, "forced": decided.get("forced", False)}
        if decided["action"] == "promote":
            if target.stage == "production":
                event = self._event(policy, "promoted", f"v{number} is production, replacing v{versus}",
                                    {**base, "replaced": versus})
            else:
                result = self._promote(policy.model, number, "production")
                if not isinstance(result, str) and result.promoted:
                    report = result.report.to_record() if result.report is not None else None
                    event = self._event(policy, "promoted", f"v{number} is production, replacing v{versus}",
                                        {**base, "replaced": versus, "gate": result.gate, "report": report})
                else:
                    why = result if isinstance(result, str) else f"the acceptance gates {result.gate}"
                    self._archive(policy.model, number)
                    event = self._event(policy, "retired",
                                        f"v{number} retired: its promotion was refused ({why}); "
                                        f"production v{versus} untouched", {**base, "error": why})
        else:
            note = "" if target.stage == "challenger" else f" (it was already {target.stage})"
            self._archive(policy.model, number)
            event = self._event(policy, "retired",
                                f"v{number} retired{note}, production v{versus} untouched: {decided.get('reason')}",
                                base)
        self._commit(state, event, phase="idle", decision=None, challenger=None,
                     cooldown_until=self._cooldown(policy))
        return "acted"

    def _archive(self, model: str, number: int) -> None:
        if self.registry.get(model, version=number).stage == "challenger":
            result = self._promote(model, number, "archived", action="loop-retire")
            if isinstance(result, str):
                raise LoopError(f"could not archive {model} v{number}: {result}", model=model, version=number)

    # -- a person's request ----------------------------------------------------------------

    def _request(self, policy: Policy, state: LoopState) -> str:
        request = state.request or {}
        action, by = request.get("action"), str(request.get("by", "someone"))
        reason = f": {request['reason']}" if request.get("reason") else ""
        if action in ("promote", "retire"):
            current = state.challenger
            if state.phase != "challenging" or not current:
                self._commit(state, self._event(policy, "requested",
                                                f"{by}'s request to {action} was dropped: no challenger "
                                                f"({state.phase})", {**request, "error": "no challenger"}, by=by),
                             request=None)
                return "acted"
            decided = {"action": action, "reason": f"forced by {by}{reason}", "version": current["version"],
                       "production": current["production"], "evidence": state.evidence, "by": by, "forced": True,
                       "at": utc_now()}
            state = self._commit(state, self._event(policy, "decision",
                                                    f"{action} v{current['version']}: forced by {by}{reason}",
                                                    decided, by=by),
                                 request=None, phase="deciding", decision=decided)
            return self._carry_out(policy, state)
        return self._rollback(policy, state, by, reason, request)

    def _rollback(self, policy: Policy, state: LoopState, by: str, reason: str, request: dict[str, Any]) -> str:
        before = self._production(policy.model)
        try:
            restored = self.registry.rollback(policy.model)
        except StorageUnavailableError:
            raise
        except WorkbenchError as exc:
            self._commit(state, self._event(policy, "requested", f"{by}'s rollback was refused: {exc.message}",
                                            {**request, "error": exc.message}, by=by), request=None)
            return "acted"
        previous = f"v{before.version}" if before else "none"
        events = [self._event(policy, "rolled_back", f"production back to v{restored.version} (from {previous}) "
                                                     f"by {by}{reason}",
                              {"version": restored.version, "from": before.version if before else None}, by=by)]
        changes: dict[str, Any] = {"request": None, "cooldown_until": self._cooldown(policy)}
        if state.phase == "challenging" and state.challenger:
            number = int(state.challenger["version"])
            self._archive(policy.model, number)
            events.append(self._event(policy, "retired", f"v{number} retired with the rollback", {"version": number},
                                      by=by))
            changes.update(phase="idle", challenger=None)
        self._commit(state, *events, **changes)
        return "acted"

    # -- leases ----------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        with self._lock:
            if self._beat is not None:
                return
            self._beat = threading.Thread(target=self._heartbeat, name="workbench-loop-lease", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        """Renew the leases held, a third of their length apart, while the loop runs."""
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                held = list(self._held)
            for model in held:
                try:
                    if not self.storage.loop.claim(model, self.owner, self.lease_s):
                        with self._lock:
                            self._held.discard(model)
                except WorkbenchError as exc:
                    log.warning("could not renew the loop of %s: %s", model, exc)


__all__ = ["Loop", "check_shared", "owner_name"]
