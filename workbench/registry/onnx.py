"""An ONNX rendering of a scikit-learn model, for fast serving (optional extra ``onnx``).

The conversion is kept only when the ONNX model predicts exactly the same labels as the
original on the evaluation data; otherwise registration fails and says so. ONNX files
hold a computation graph and no code, so loading one after its SHA-256 check is safe.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.errors import MissingDependencyError, RegistryError

INSTALL_HINT = "pip install 'workbench[onnx]'"


def _require(*, export: bool = True) -> tuple[Any, Any]:
    """skl2onnx (``None`` unless ``export``: running a graph needs only onnxruntime, which imports faster) and
    onnxruntime."""
    try:
        import onnxruntime

        skl2onnx = importlib.import_module("skl2onnx") if export else None
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs skl2onnx and onnxruntime ({exc.name} is missing)", hint=INSTALL_HINT
        ) from exc
    return skl2onnx, onnxruntime


def session(data: bytes, *, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for verified ONNX bytes.

    ``threads`` caps the threads one call may use (a server running requests side by side
    wants 1: more only contend for the same cores); ``None`` leaves onnxruntime's default.
    """
    _, onnxruntime = _require(export=False)
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


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
        # probabilities as a plain float tensor (in ``classes_`` order), not ZipMap's list of maps
        options = {"zipmap": False} if getattr(model, "classes_", None) is not None else None
        data = skl2onnx.to_onnx(model, sample[:1], options=options).SerializeToString()
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
