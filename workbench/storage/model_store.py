"""The model store's contract: a few primitives each backend implements, composites built once here.

A backend (memory, local, redis, or a third-party one in the ``workbench.stores``
entry-point group, see :mod:`workbench.storage.backend`) implements the abstract methods.
Stage changes, rollback, lookups by stage and hash verification are written once in
:class:`ModelStore` on top of them, so every backend keeps the same rules: at most one
production version per name, a history entry for every stage change, and no artifact
bytes handed out unverified.
"""

from __future__ import annotations

import getpass
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from workbench.errors import IntegrityError, ModelNotFoundError, StageError, StorageError
from workbench.names import validate_name
from workbench.storage.change_notices import ChangeWatch
from workbench.storage.model_records import ModelVersion, PromotionEvent, utc_now, validate_stage

SCHEMA_VERSION = 2
"""Layout of stored metadata; a store refuses data written with a newer one (2: gate results)."""

_MAX_STAGE_ATTEMPTS = 50


_DIGEST = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(sha256: object) -> str:
    """``sha256`` when it is a lowercase hex SHA-256 digest, safe in a key or a file name."""
    if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):
        raise IntegrityError(f"{sha256!r} is not a SHA-256 digest")
    return sha256


def current_user() -> str:
    """Who is making a stage change, for the promotion history."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


class ModelStore(ABC):
    """Where versions, their artifacts, their stage history and gate results live.

    Backends implement the primitives below; they must make ``add_version`` and
    ``apply_stages`` atomic (all or nothing, safe against concurrent writers from other
    processes) and must never let a version be listed before its artifact is stored. Every
    method raises :class:`StorageUnavailableError` when the backend cannot be reached.
    """

    # -- primitives -------------------------------------------------------------------

    @abstractmethod
    def add_version(self, name: str, record: Mapping[str, Any], stage: str, artifact: bytes) -> int:
        """Store ``artifact`` (keyed by ``record["sha256"]``), then publish a new version.

        Allocates the next version number of ``name`` atomically (1 for a new name; never
        reused, no gaps under concurrency) and returns it. The version becomes visible
        only once its artifact is durably stored; a writer killed midway leaves no
        visible trace beyond, at most, an unreferenced artifact.
        """

    @abstractmethod
    def get_version(self, name: str, version: int) -> ModelVersion:
        """The version ``version`` of ``name``; raises :class:`ModelNotFoundError`."""

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first; empty when the name is unknown."""

    @abstractmethod
    def list_names(self) -> list[str]:
        """Every model name with at least one version, sorted."""

    @abstractmethod
    def put_artifact(self, sha256: str, data: bytes) -> None:
        """Store ``data`` under its digest, durably, before returning; storing it again is harmless.

        Used for a version's additional artifacts (such as ONNX), which must be stored
        before :meth:`add_version` publishes the row that refers to them.
        """

    @abstractmethod
    def read_artifact(self, sha256: str) -> bytes:
        """The stored bytes for ``sha256``, unverified; raises :class:`IntegrityError` when missing."""

    @abstractmethod
    def apply_stages(
        self, name: str, expected: Mapping[int, str], changes: Mapping[int, str], event: PromotionEvent
    ) -> bool:
        """Set stages atomically if every version in ``expected`` still has that stage.

        On success applies ``changes`` (version -> new stage), appends ``event`` to the
        history of ``name`` and returns True; returns False, changing nothing, when
        another writer changed a stage first (the caller re-reads and retries).
        """

    @abstractmethod
    def history(self, name: str) -> list[PromotionEvent]:
        """The stage changes of ``name``, oldest first."""

    @abstractmethod
    def add_gate_result(self, name: str, version: int, record: Mapping[str, Any]) -> None:
        """Append one acceptance gate run (plain JSON) to the results kept with ``version`` of ``name``.

        The caller has checked that the version exists; results are never rewritten.
        """

    @abstractmethod
    def gate_results(self, name: str, version: int) -> list[dict[str, Any]]:
        """The acceptance gate runs of ``version`` of ``name``, oldest first; empty when none."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release connections; the store must not be used afterwards."""

    def watch(self, on_change: Callable[[str | None], None]) -> ChangeWatch | None:
        """Call ``on_change(model name)`` from another thread soon after any process changes a stage
        in this store (``None`` for "look at everything"), until the returned watch is closed.

        ``None`` when the backend sends no notices: readers poll (the default). See
        :mod:`workbench.storage.change_notices`.
        """
        return None

    # -- composites ---------------------------------------------------------------------

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``; raises :class:`ModelNotFoundError` when there is none."""
        found = self.list_versions(validate_name(name, "model name"))
        if not found:
            raise ModelNotFoundError(f"no model named {name!r}", model=name)
        return found

    def find(self, name: str, *, version: int | None = None, stage: str | None = None) -> ModelVersion:
        """A version by number, else the newest version at ``stage``, else the newest of all."""
        validate_name(name, "model name")
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ModelNotFoundError(f"version must be a positive integer, not {version!r}", model=name)
            return self.get_version(name, version)
        candidates = self.versions(name)
        if stage is not None:
            validate_stage(stage)
            candidates = [v for v in candidates if v.stage == stage]
            if not candidates:
                raise ModelNotFoundError(
                    f"model {name!r} has no version in stage {stage!r}",
                    hint=f"promote one with `workbench promote {name} VERSION --to {stage}`",
                    model=name,
                    stage=stage,
                )
        return candidates[-1]

    def verified_artifact(self, version: ModelVersion, kind: str | None = None) -> bytes:
        """The artifact bytes of ``version`` after checking them against their SHA-256.

        ``kind`` picks one of the version's additional artifacts (``"onnx"``) instead of
        the model itself; raises :class:`ModelNotFoundError` when the version has none.
        """
        expected = version.sha256
        if kind is not None:
            extra = version.extra_artifacts.get(kind)
            if extra is None:
                raise ModelNotFoundError(
                    f"{version.name} v{version.version} has no {kind} artifact",
                    hint=f"register the model with {kind}=True to store one",
                    model=version.name,
                    version=version.version,
                )
            expected = str(extra["sha256"])
        data = self.read_artifact(expected)
        actual = sha256_hex(data)
        if actual != expected:
            raise IntegrityError(
                f"{kind or 'model'} artifact of {version.name} v{version.version} does not match its SHA-256 "
                f"(recorded {expected[:12]}…, found {actual[:12]}…); it was not loaded",
                model=version.name,
                version=version.version,
            )
        return data

    def promote(
        self,
        name: str,
        version: int,
        stage: str,
        *,
        action: str = "promote",
        gate: str | None = None,
        forced: bool = False,
        weight: float | None = None,
    ) -> ModelVersion:
        """Move ``version`` of ``name`` to ``stage``; a previous production version is archived.

        Safe against concurrent promotions: the change applies only if no stage moved
        meanwhile, and is retried on a fresh read otherwise. ``gate`` (the acceptance
        outcome: passed, failed, error, none) and ``forced`` are kept in the history; the
        gate itself runs above the store, in :func:`workbench.lifecycle.promotion.promote`.

        ``challenger`` takes ``weight``, the share of traffic in (0, 1) it gets when served
        (:class:`StageError` without it, outside it, or with another stage). A model has at
        most one challenger: promoting another archives the previous one in the same
        change. Promoting the current challenger again changes only its weight. The
        production version cannot become the challenger.
        """
        validate_stage(stage)
        weight = check_weight(name, version, stage, weight)
        for _ in range(_MAX_STAGE_ATTEMPTS):
            target = self.find(name, version=version)
            if target.stage == stage and (stage != "challenger" or self.challenger_weight(name, version) == weight):
                return target
            if stage == "challenger" and target.stage == "production":
                raise StageError(
                    f"{name} v{version} is the production version; it cannot also be the challenger",
                    hint=f"promote another version with `workbench promote {name} VERSION --to challenger`",
                    model=name,
                    version=version,
                )
            expected = {target.version: target.stage}
            changes = {target.version: stage} if target.stage != stage else {}
            replaced = None
            if stage in ("production", "challenger"):
                # Every version's stage is part of the expectation: any of them could have
                # become production (or challenger) since this read, and then this change must not apply.
                for current in self.list_versions(name):
                    expected[current.version] = current.stage
                    if current.version != target.version and current.stage == stage:
                        changes[current.version] = "archived"
                        replaced = current.version
            event = PromotionEvent(
                version=target.version,
                from_stage=target.stage,
                to_stage=stage,
                at=utc_now(),
                by=current_user(),
                action=action,
                replaced=replaced,
                gate=gate,
                forced=forced,
                weight=weight,
            )
            if self.apply_stages(name, expected, changes, event):
                return target.with_stage(stage)
        raise StorageError(
            f"could not promote {name} v{version}: its stages kept changing under concurrent writers",
            hint="retry; if it persists, look for a process promoting this model in a loop",
            model=name,
            version=version,
        )

    def challenger_weight(self, name: str, version: int) -> float:
        """The traffic share of ``version`` as challenger: the weight of the newest event that made it one.

        Raises :class:`StageError` when the history never moved that version to challenger.
        """
        for event in reversed(self.history(name)):
            if event.version == version and event.to_stage == "challenger" and event.weight is not None:
                return float(event.weight)
        raise StageError(f"{name} v{version} was never promoted to challenger", model=name, version=version)

    def rollback(self, name: str) -> ModelVersion:
        """Put back in production the version that the current production version replaced.

        Repeated rollbacks walk further back (v3 -> v2 -> v1): a version's predecessor is
        taken from the promotion that first put it in production, not from a rollback.
        """
        current = self.find(name, stage="production")
        for event in reversed(self.history(name)):
            if event.version == current.version and event.to_stage == "production" and event.action != "rollback":
                if event.replaced is None:
                    break
                return self.promote(name, event.replaced, "production", action="rollback")
        raise StageError(
            f"{name} v{current.version} did not replace another production version; nothing to roll back to",
            hint=f"promote a specific version with `workbench promote {name} VERSION --to production`",
            model=name,
            version=current.version,
        )


def check_weight(name: str, version: int, stage: str, weight: object) -> float | None:
    """``weight`` as a float when ``stage`` is challenger and it lies in (0, 1); ``None`` for other stages."""
    if stage != "challenger":
        if weight is not None:
            raise StageError(f"only a challenger takes a weight, not {stage}", model=name, version=version)
        return None
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < 1:
        raise StageError(
            f"a challenger needs a weight in (0, 1), its share of traffic, not {weight!r}",
            hint=f"`workbench promote {name} {version} --to challenger --weight 0.1`",
            model=name,
            version=version,
        )
    return float(weight)


__all__ = ["SCHEMA_VERSION", "ModelStore", "check_digest", "check_weight", "current_user", "sha256_hex"]
