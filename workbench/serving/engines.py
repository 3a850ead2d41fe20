"""How a served version computes its answers: scikit-learn in process, or its ONNX rendering through ONNX Runtime.

Both engines take a float64 matrix and return the same thing: one plain Python label per
row (the type of the model's ``classes_``: ``int``, ``float`` or ``str``) and, when the
model has ``predict_proba``, one row of class probabilities in ``classes_`` order.

:class:`OnnxEngine` answers when the version carries a verified ``onnx`` artifact (its
predictions were checked against the model's on the evaluation rows at registration);
it computes in float32, so probabilities agree with scikit-learn's to about 1e-6. It does
not reproduce scikit-learn's routing of missing values, so rows holding NaN (accepted only
for models that declare they handle them) go to the scikit-learn model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Answer = tuple[list[Any], list[list[float]] | None]
"""One label per row, and one probability row per row (``None`` for a model without ``predict_proba``)."""

# Estimators whose ``predict`` is, in their source, exactly ``classes_.take(argmax(predict_proba))``
# (single output): for them one ``predict_proba`` call gives both answers. Others (SVC with
# probability=True, logistic regression, boosting: ``predict`` thresholds a decision function,
# which rounding of the probabilities can tie or cross) are asked both questions.
_ARGMAX_OF_PROBA = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
    }
)

ONNX_THREADS = 1
"""Threads per ONNX Runtime call: requests run side by side, so each gets one core at most."""


def final_estimator(model: Any) -> Any:
    """The last step of a (possibly nested) pipeline, else the model itself."""
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def argmax_is_predict(model: Any) -> bool:
    """Whether ``model.predict`` is exactly ``classes_[argmax(predict_proba)]`` for every input."""
    last = final_estimator(model)
    kind = f"{type(last).__module__}.{type(last).__qualname__}"
    return kind in _ARGMAX_OF_PROBA and getattr(last, "n_outputs_", 1) == 1


class SklearnEngine:
    """The scikit-learn model itself; one ``predict_proba`` call per request where that is exact."""

    name = "sklearn"

    def __init__(self, model: Any, feature_names: tuple[str, ...]) -> None:
        self.model = model
        self.feature_names = feature_names
        # fitted on a DataFrame: give it the same columns, so it does not warn about names
        self.with_frame = hasattr(model, "feature_names_in_")
        self.has_proba = hasattr(model, "predict_proba")
        self.classes = np.asarray(getattr(model, "classes_", []))
        self.one_call = self.has_proba and argmax_is_predict(model)

    def predict(self, X: np.ndarray) -> Answer:
        data: Any = X
        if self.with_frame:
            import pandas as pd

            data = pd.DataFrame(X, columns=list(self.feature_names))
        if self.one_call:
            proba = np.asarray(self.model.predict_proba(data))
            return plain_labels(self.classes.take(proba.argmax(axis=1))), proba.tolist()
        labels = plain_labels(np.asarray(self.model.predict(data)))
        if not self.has_proba:
            return labels, None
        return labels, np.asarray(self.model.predict_proba(data)).tolist()


class OnnxEngine:
    """A version's verified ONNX rendering in an ONNX Runtime session sized for a server.

    Labels come from the graph's label output, cast to the dtype of the model's classes;
    probabilities from its probability output, a float tensor (converted with
    ``zipmap=False``) or, for renderings stored with ZipMap, a list of ``{class: p}`` maps.
    """

    name = "onnxruntime"

    def __init__(self, session: Any, classes: np.ndarray, has_proba: bool) -> None:
        self.session = session
        self.classes = classes
        self.has_proba = has_proba
        self.input_name = session.get_inputs()[0].name
        outputs = session.get_outputs()
        self.output_names = [o.name for o in outputs[:2]] if has_proba else [outputs[0].name]
        self.zipmap = has_proba and len(outputs) > 1 and outputs[1].type.startswith("seq(map")
        # the compiled session's own run: the Python wrapper's checks of the feed's names and graph capture
        # cost more than a small model's run, and the feed here is always the one input, a CPU array
        inner = getattr(session, "_sess", None)
        self._run = inner.run if inner is not None and hasattr(inner, "run") else self._checked_run

    def _checked_run(self, names: list[str], feed: dict[str, np.ndarray], options: Any) -> Any:
        return self.session.run(names, feed, options)

    def predict(self, X: np.ndarray) -> Answer:
        found = self._run(self.output_names, {self.input_name: X.astype(np.float32)}, None)
        labels = plain_labels(np.asarray(found[0]).astype(self.classes.dtype, copy=False))
        if not self.has_proba:
            return labels, None
        if self.zipmap:
            keys = [c.item() if hasattr(c, "item") else c for c in self.classes]
            return labels, [[float(row[k]) for k in keys] for row in found[1]]
        return labels, np.asarray(found[1]).tolist()  # float32 values become the same Python floats


def onnx_engine(data: bytes, classes: np.ndarray, has_proba: bool) -> OnnxEngine:
    """An :class:`OnnxEngine` for verified ONNX ``data`` rendering a model of these ``classes``.

    Raises :class:`~workbench.errors.MissingDependencyError` without onnxruntime.
    """
    from workbench.registry import onnx as onnx_module

    return OnnxEngine(onnx_module.session(data, threads=ONNX_THREADS), classes, has_proba)


def plain_labels(labels: np.ndarray) -> list[Any]:
    """Labels as plain Python values (``int``, ``float``, ``str``), the way JSON writes them."""
    values = labels.tolist()
    if labels.dtype == object:
        return [v.item() if hasattr(v, "item") else v for v in values]
    return values


__all__ = ["Answer", "OnnxEngine", "SklearnEngine", "argmax_is_predict", "final_estimator", "onnx_engine"]
