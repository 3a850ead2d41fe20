"""Request and response shapes, for the OpenAPI document.

The routes validate bodies themselves (:mod:`workbench.serving.inputs`), against the
served model's feature count and names; these models only describe the wire format.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PredictRequest(BaseModel):
    """Exactly one of ``instances`` (rows in the model's feature order) or ``records`` (feature: value).

    ``routing_key`` (or the ``X-Routing-Key`` header, which wins) keeps a caller on one A/B arm.
    """

    instances: list[list[float | None]] | None = Field(default=None, examples=[[[5.1, 3.5, 1.4, 0.2]]])
    records: list[dict[str, float | None]] | None = Field(default=None)
    routing_key: str | None = Field(default=None, max_length=256)


class PredictResponse(BaseModel):
    """One prediction, probability map (or null) and request id per row, all from ``version`` of ``arm``."""

    model: str
    version: int
    arm: str = Field(examples=["production"], description="production or challenger")
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    request_ids: list[str]


class FeedbackRequest(BaseModel):
    """True labels for earlier predictions, one per request id."""

    request_ids: list[str]
    labels: list[str | int | float]


class FeedbackResponse(BaseModel):
    """Labels scored, ids unknown to the prediction log (never logged, or evicted), ids already labelled."""

    accepted: int
    unknown: int
    duplicate: int


class ErrorResponse(BaseModel):
    """Every refusal: the error class, what went wrong (with the expected shape), what to do."""

    error: str
    message: str
    hint: str


__all__ = ["ErrorResponse", "FeedbackRequest", "FeedbackResponse", "PredictRequest", "PredictResponse"]
