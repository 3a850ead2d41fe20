"""The optional ONNX rendering: kept only when it predicts like the model, verified on load."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from tests.registry.conftest import corrupt
from tests.stages import in_production
from workbench.errors import IntegrityError, InvalidMetadataError, ModelNotFoundError, RegistryError
from workbench.registry import Registry

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")


class MajorityVote(ClassifierMixin, BaseEstimator):
    """A classifier skl2onnx has no converter for."""

    def fit(self, X: Any, y: Any) -> MajorityVote:
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.majority_)


def test_onnx_rendering_predicts_like_the_model(registry: Registry, model: Any, data: tuple[Any, Any]) -> None:
    from workbench.registry.onnx import predict_labels

    X, y = data
    version = in_production(registry, registry.register(model, "churn", eval_data=(X, y), onnx=True))
    assert version.extra_artifacts["onnx"]["verified_rows"] == len(y)
    assert "+ onnx" in str(version)
    session = registry.load_onnx("churn")
    assert np.array_equal(predict_labels(session, X), model.predict(X))


def test_onnx_needs_data_to_check_against_and_a_convertible_model(
    registry: Registry, model: Any, data: tuple[Any, Any]
) -> None:
    X, y = data
    with pytest.raises(InvalidMetadataError, match="onnx=True needs eval_data"):
        registry.register(model, "churn", onnx=True)
    with pytest.raises(RegistryError, match="skl2onnx cannot convert MajorityVote"):
        registry.register(MajorityVote().fit(X, y), "vote", eval_data=(X, y), onnx=True)
    assert registry.models() == []
    registry.register(model, "churn")
    with pytest.raises(ModelNotFoundError, match="has no onnx artifact"):
        registry.load_onnx("churn", version=1)


def test_tampered_onnx_is_refused(registry: Registry, model: Any, data: tuple[Any, Any]) -> None:
    version = registry.register(model, "churn", eval_data=data, onnx=True)
    sha = version.extra_artifacts["onnx"]["sha256"]
    damaged = bytearray(registry.store.read_artifact(sha))
    damaged[-1] ^= 0xFF
    corrupt(registry.store, sha, bytes(damaged))
    with pytest.raises(IntegrityError, match="onnx artifact of churn v1 does not match"):
        registry.load_onnx("churn", version=1)
