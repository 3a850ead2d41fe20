"""A/B routing: which arm (production or challenger) answers a request.

A :class:`Route` is one immutable entry of the model factory: the production version,
the challenger (if any) and the challenger's share of traffic. A request takes one
entry and picks its arm from it, so a promotion landing mid-request never mixes versions.

With a routing key the choice is sticky: the key and the model name are hashed
(SHA-256) to a number in [0, 1), and the challenger answers when it is below the
weight. The same key therefore always lands on the same arm, in every server process,
and raising the weight only moves keys from production to the challenger, never back.
Without a key the arm is drawn at random with the same probability.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.serving.factory import ServedModel

ARMS: tuple[str, ...] = ("production", "challenger")
MAX_ROUTING_KEY = 256
"""Longest routing key accepted (characters)."""


def key_share(name: str, routing_key: str) -> float:
    """Where ``routing_key`` falls in [0, 1) for model ``name``: uniform over keys, fixed for each."""
    digest = hashlib.sha256(f"{name}\0{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Route:
    """The versions answering for one model: production, and optionally a challenger taking ``weight``."""

    production: ServedModel
    challenger: ServedModel | None = None
    weight: float = 0.0

    @property
    def name(self) -> str:
        return self.production.version.name

    def arms(self) -> list[tuple[str, ServedModel]]:
        """Each arm with the version behind it, production first."""
        return [("production", self.production)] + ([("challenger", self.challenger)] if self.challenger else [])

    @property
    def inline(self) -> bool:
        """Whether every arm may answer on the event loop (:attr:`ServedModel.inline`)."""
        return self.production.inline and (self.challenger is None or self.challenger.inline)

    def pick(self, routing_key: str | None = None) -> tuple[str, ServedModel]:
        """The arm that answers a request (sticky per ``routing_key``, random without one)."""
        if self.challenger is None:
            return "production", self.production
        share = key_share(self.name, routing_key) if routing_key is not None else random.random()
        if share < self.weight:
            return "challenger", self.challenger
        return "production", self.production


__all__ = ["ARMS", "MAX_ROUTING_KEY", "Route", "key_share"]
