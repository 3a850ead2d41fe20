"""An ONNX rendering of a scikit-learn model, for fast serving (optional extra ``onnx``).

The conversion is kept only when the ONNX model predicts exactly the same labels as the
original on the evaluation data; otherwise registration fails and says so. ONNX files
hold a computation graph and no code, so loading one after its SHA-256 check is safe.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import MissingDependencyError, RegistryError

INSTALL_HINT = "pip install 'workbench[onnx]'"


def _require() -> tuple[Any, Any]:
    try:
        import onnxruntime
        import skl2onnx
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs skl2onnx and onnxruntime ({exc.name} is missing)", hint=INSTALL_HINT
        ) from exc
    return skl2onnx, onnxruntime


def session(data: bytes) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for verified ONNX bytes."""
    _, onnxruntime = _require()
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


def predict_labels(inference: Any, X: Any) -> Any:
    """The predicted labels (the graph's first output) for rows ``X``."""
    import numpy as np

    name = inference.get_inputs()[0].name
    return np.asarray(inference.run(None, {name: np.asarray(X, dtype=np.float32)})[0])


def convert(model: Any, X: Any) -> tuple[bytes, int]:
    """ONNX bytes for ``model``, checked to predict like it on every row of ``X``.

    Returns the bytes and the number of rows checked. Raises :class:`RegistryError` when
    skl2onnx cannot convert the model or when any prediction differs.
    """
    import numpy as np

    skl2onnx, _ = _require()
    sample = np.asarray(X, dtype=np.float32)
    try:
        data = skl2onnx.to_onnx(model, sample[:1]).SerializeToString()
    except Exception as exc:  # skl2onnx raises many unrelated types for "cannot convert"
        raise RegistryError(
            f"skl2onnx cannot convert {type(model).__name__}: {exc}", hint="register it without onnx=True"
        ) from exc
    expected = np.asarray(model.predict(X))
    got = predict_labels(session(data), sample)
    differ = int((got.astype(expected.dtype) != expected).sum()) if got.shape == expected.shape else len(expected)
    if differ:
        raise RegistryError(
            f"the ONNX conversion of {type(model).__name__} predicts differently on {differ} of "
            f"{len(expected)} evaluation rows; it was not kept",
            hint="register it without onnx=True (float32 rounding can move points near a decision boundary)",
        )
    return data, len(expected)


__all__ = ["convert", "predict_labels", "session"]
