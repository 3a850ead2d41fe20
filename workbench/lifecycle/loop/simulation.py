"""A reproducible world to watch the loop in: a seeded labelled stream whose concept shifts at a
known row, and a client that replays it against a running ``workbench serve`` with feedback.

The stream has ``n_features`` standard normal features and a binary label from a noisy
linear rule. From row ``shift_at`` on, the first ``drifting`` features move by ``shift``
standard deviations (drift a PSI check sees) and the rule changes sign on every other
feature (a concept a model trained before cannot know): production's live F1 falls, and a
model retrained on rows after the shift recovers it. Rows are a pure function of
``(seed, index)``, so any slice can be generated again.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ShiftingStream:
    """See the module docstring; ``noise`` is the label noise relative to the rule's scale."""

    seed: int = 0
    shift_at: int = 2000
    n_features: int = 6
    drifting: int = 3
    shift: float = 1.0
    noise: float = 0.25

    @property
    def features(self) -> list[str]:
        return [f"f{i}" for i in range(self.n_features)]

    def _weights(self, after: bool) -> np.ndarray:
        weights = np.where(np.arange(self.n_features) < self.n_features // 2 + 1, 1.0, 0.5)
        if after:
            weights = weights * np.where(np.arange(self.n_features) % 2 == 1, -1.0, 1.0)
        return weights

    def rows(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of rows ``start`` to ``start + count - 1``."""
        X = np.empty((count, self.n_features))
        y = np.empty(count, dtype=np.int64)
        offset = np.zeros(self.n_features)
        offset[: self.drifting] = self.shift
        for i, index in enumerate(range(start, start + count)):
            rng = np.random.default_rng([self.seed, index])
            x = rng.normal(size=self.n_features)
            after = index >= self.shift_at
            score = float(x @ self._weights(after)) + self.noise * float(np.linalg.norm(self._weights(after))) * float(
                rng.normal()
            )
            X[i] = x + offset if after else x
            y[i] = int(score > 0)
        return X, y

    def frame(self, start: int, count: int) -> Any:
        """Rows as a pandas DataFrame: one column per feature and ``target``."""
        import pandas as pd

        X, y = self.rows(start, count)
        frame = pd.DataFrame(X, columns=self.features)
        frame["target"] = y
        return frame


@dataclass
class Answered:
    """What the replay saw for one row: its index, who answered (version, arm), the prediction, the truth."""

    index: int
    version: int
    arm: str
    prediction: int
    truth: int


@dataclass
class Replay:
    """Replays a stream against ``url`` (a ``workbench serve``) for ``model``, with feedback.

    Each request is sent with routing key ``row-<index of its first row>``, so the arm a row
    lands on is the same in every run. ``answered`` keeps every row answered, in order.
    """

    url: str
    token: str
    model: str
    stream: ShiftingStream
    timeout: float = 30.0
    answered: list[Answered] = field(default_factory=list)
    post: Callable[[str, dict[str, Any]], Any] | None = None

    @classmethod
    def in_process(cls, service: Any, model: str, stream: ShiftingStream) -> Replay:
        """A replay calling a :class:`~workbench.serving.service.PredictionService` of this process, not HTTP.

        Each request's log records are written before the next request (a server under load
        keeps a sample of the inputs for drift; this keeps them all, so a replay gives the same
        figures every time). Call ``service.factory.refresh()`` between batches to pick up promotions.
        """

        def post(path: str, body: dict[str, Any]) -> Any:
            route = service.route(model)
            if not path.endswith("/predict"):
                return asdict(service.feedback(route, body))
            answer = service.predict(route, body)
            service.writer.flush()
            return answer

        return cls("", "", model, stream, post=post)

    def _post(self, path: str, body: dict[str, Any], token: bool = False) -> Any:
        if self.post is not None:
            return self.post(path, body)
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url.rstrip("/") + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def send(self, start: int, count: int, *, per_request: int = 1, feedback: bool = True) -> list[Answered]:
        """Predict rows ``start`` to ``start + count - 1`` (``per_request`` rows a request, routed by the
        first row's key), then send their labels in one feedback call."""
        X, y = self.stream.rows(start, count)
        rows, truths = X.tolist(), y.tolist()
        sent: list[tuple[str, Answered]] = []
        for first in range(0, count, per_request):
            index = start + first
            body = {"instances": rows[first : first + per_request], "routing_key": f"row-{index}"}
            answer = self._post(f"/v1/models/{self.model}/predict", body)
            for offset, (rid, prediction) in enumerate(zip(answer["request_ids"], answer["predictions"], strict=True)):
                seen = Answered(index + offset, int(answer["version"]), str(answer["arm"]), int(prediction),
                                truths[first + offset])
                sent.append((rid, seen))
        if feedback and sent:
            body = {"request_ids": [rid for rid, _ in sent], "labels": [seen.truth for _, seen in sent]}
            self._post(f"/v1/models/{self.model}/feedback", body, token=True)
        answered = [seen for _, seen in sent]
        self.answered.extend(answered)
        return answered


def f1_macro(rows: list[Answered]) -> float:
    """Macro F1 of the answered rows (0 without rows), as the live figures compute it."""
    if not rows:
        return 0.0
    from sklearn.metrics import f1_score

    return float(f1_score([r.truth for r in rows], [r.prediction for r in rows], average="macro", zero_division=0))


__all__ = ["Answered", "Replay", "ShiftingStream", "f1_macro"]
