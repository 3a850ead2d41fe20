"""Request bodies to model inputs: strict JSON in, a float matrix out, or a 4xx naming the expected shape.

Only JSON is ever parsed (no pickle or any code-carrying format, whatever the content
type). The missing-value policy: ``null`` and ``NaN`` are accepted only when the model
declares that it handles missing values (scikit-learn's ``allow_nan`` tag, as in
``HistGradientBoostingClassifier``); ``Infinity``, ``-Infinity`` and numbers too large for
a float are always refused with 422.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any

import numpy as np
import orjson

from workbench.errors import BadInputError, PayloadTooLargeError

_MISSING = float("nan")


@dataclass(frozen=True)
class InputShape:
    """What a served model accepts: feature names and count, and whether NaN means missing.

    ``nan_policy`` is that flag, or a function giving it: a version answering through ONNX
    Runtime may still be loading its scikit-learn model, which alone can tell; it is asked
    only when a request holds a missing value (or the model is described).
    """

    feature_names: tuple[str, ...]
    n_features: int
    nan_policy: bool | Callable[[], bool]

    @cached_property
    def allow_nan(self) -> bool:
        policy = self.nan_policy
        return policy if isinstance(policy, bool) else policy()

    @cached_property
    def known(self) -> frozenset[str]:
        return frozenset(self.feature_names)

    def describe(self) -> str:
        return f"rows of {self.n_features} numbers ({', '.join(self.feature_names[:8])}" + (
            ", ...)" if self.n_features > 8 else ")"
        )


NOT_TEXT = "a string in the request is not valid UTF-8 text (a lone surrogate or invalid bytes)"
"""The refusal (400) of a string that is not text, the same over HTTP and Thrift."""
TEXT_HINT = "send strings as UTF-8 text; in JSON, a \\uD800-\\uDFFF escape must be half of a surrogate pair"


def numbers_only(body: bytes) -> bool:
    """Whether a JSON ``body`` can hold nothing but one key and numbers: no other string, ``true``, ``false``,
    ``null`` (each spelled with a ``u`` or an ``l``). A few byte scans, no parsing."""
    return body.count(b'"') == 2 and b"u" not in body and b"l" not in body


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; raises :class:`BadInputError` (400) when it is not JSON text."""
    if not body:
        raise BadInputError("the request body is empty; it must be a JSON object", status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # not strict JSON (NaN, Infinity, huge integers, lone surrogates...): the standard parser decides
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError("the request body is not valid UTF-8", status=400) from None
    try:
        value = json.loads(text, parse_constant=_constant)
    except RecursionError:
        raise BadInputError("the request body nests too deeply to be read", status=400) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise BadInputError(f"the request body is not valid JSON: {exc.msg} at {where}", status=400) from None
    if _holds_lone_surrogate(value):
        raise BadInputError(NOT_TEXT, status=400, hint=TEXT_HINT)
    return value


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds a lone surrogate, which is not text.

    Only bodies orjson refused get here; orjson refuses lone surrogates itself.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _constant(name: str) -> float:
    """``NaN``, ``Infinity`` and ``-Infinity`` (not standard JSON) become floats; the policy judges them."""
    return float(name.replace("Infinity", "inf"))


def only_keys(body: Any, allowed: Sequence[str], required: Sequence[str] = ()) -> Mapping[str, Any]:
    """``body`` when it is a JSON object whose keys are among ``allowed`` and include ``required``."""
    if not isinstance(body, dict):
        raise BadInputError(f"the body must be a JSON object with keys {', '.join(allowed)}, not {_kind(body)}")
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise BadInputError(
            f"unknown key(s) {', '.join(map(repr, unknown[:5]))[:200]}; allowed keys: {', '.join(allowed)}"
        )
    missing = [k for k in required if k not in body]
    if missing:
        raise BadInputError(f"missing key(s): {', '.join(missing)}")
    return body


def prediction_rows(body: Any, shape: InputShape, max_rows: int) -> list[list[float]]:
    """The rows of a predict body (``instances`` or ``records``) as lists of floats, checked against ``shape``."""
    keys = only_keys(body, ("instances", "records"))
    if len(keys) != 1:
        raise BadInputError(
            f'send exactly one of "instances" (a list of {shape.describe()}) or "records" '
            f"(a list of objects with keys {', '.join(shape.feature_names[:8])}"
            + (", ...)" if shape.n_features > 8 else ")")
        )
    key, rows = next(iter(keys.items()))
    if not isinstance(rows, list):
        raise BadInputError(f'"{key}" must be a list, not {_kind(rows)}')
    if not rows:
        raise BadInputError(f'"{key}" is empty; send at least one row: {shape.describe()}')
    if len(rows) > max_rows:
        raise PayloadTooLargeError(f"{len(rows)} rows is more than this server's limit of {max_rows} per request")
    if key == "instances":
        return _plain_instances(rows, shape) or [_instance(i, row, shape) for i, row in enumerate(rows)]
    return [_record(i, row, shape) for i, row in enumerate(rows)]


def prediction_matrix(body: Any, shape: InputShape, max_rows: int, *, numbers_only: bool = False) -> np.ndarray:
    """The rows of a predict body as a float64 matrix, checked against ``shape`` as :func:`prediction_rows` does.

    ``numbers_only`` says the caller knows every value of ``instances`` is a number (a
    Thrift list of doubles, or an HTTP body holding no string, ``true``, ``false`` or
    ``null``): the rows are then converted in one call, and only rows numpy cannot take
    as they are (ragged, wrong width, non-finite values) go through the value-by-value
    checks, which give the exact refusal. ``instances`` may also be a float64 matrix already (a
    front end that decoded the rows in one pass): it is taken when it passes the same checks,
    else checked value by value as the lists it holds.
    """
    rows = body.get("instances") if type(body) is dict else None
    if type(rows) is np.ndarray:
        if numbers_only and len(body) == 1 and _fits(rows, shape, max_rows):
            return rows
        body = {**body, "instances": rows.tolist()}
    if numbers_only and type(body) is dict and len(body) == 1 and type(body.get("instances")) is list:
        rows = body["instances"]
        if 0 < len(rows) <= max_rows:
            try:
                matrix = np.array(rows, dtype=np.float64)
            except (ValueError, TypeError, OverflowError):
                matrix = None
            if matrix is not None and matrix.shape == (len(rows), shape.n_features) and np.isfinite(matrix).all():
                return matrix
    return np.array(prediction_rows(body, shape, max_rows), dtype=np.float64)


def _fits(matrix: np.ndarray, shape: InputShape, max_rows: int) -> bool:
    """Whether a float64 matrix is rows the model takes as they are: 1 to ``max_rows`` rows of
    ``n_features`` finite values."""
    return (
        matrix.dtype == np.float64
        and matrix.ndim == 2
        and 0 < len(matrix) <= max_rows
        and matrix.shape[1] == shape.n_features
        and bool(np.isfinite(matrix).all())
    )


def _plain_instances(rows: list[Any], shape: InputShape) -> list[list[float]] | None:
    """The common case checked in bulk: lists of exactly ``n_features`` finite ints and floats.

    ``None`` for anything else (NaN, null, infinities, huge or wrong values, wrong lengths),
    which the value-by-value path then accepts or refuses with its exact message.
    """
    n = shape.n_features
    if not all(type(row) is list and len(row) == n for row in rows):
        return None
    kinds = set(map(type, chain.from_iterable(rows)))
    if not kinds <= {float, int}:  # exact types: booleans are not numbers here
        return None
    try:
        floats = rows if kinds == {float} else [list(map(float, row)) for row in rows]
        # a finite sum means every value is finite (inf and NaN propagate; an overflow falls back)
        return floats if math.isfinite(sum(chain.from_iterable(floats))) else None
    except OverflowError:
        return None


def _instance(index: int, row: Any, shape: InputShape) -> list[float]:
    if not isinstance(row, list):
        raise BadInputError(f"instances[{index}] must be a list of {shape.n_features} numbers, not {_kind(row)}")
    if len(row) != shape.n_features:
        raise BadInputError(
            f"instances[{index}] has {len(row)} values; the model expects {shape.describe()}",
            hint="every row must have exactly the model's number of features, in the model's order",
        )
    return [_number(value, f"instances[{index}][{j}]", shape) for j, value in enumerate(row)]


def _record(index: int, row: Any, shape: InputShape) -> list[float]:
    if not isinstance(row, dict):
        raise BadInputError(f"records[{index}] must be an object of feature: number, not {_kind(row)}")
    missing = [n for n in shape.feature_names if n not in row]
    unknown = [k for k in row if k not in shape.known]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing[:5]))}" + (" ..." if len(missing) > 5 else ""))
        if unknown:
            parts.append(f"{len(unknown)} unknown name(s)")
        raise BadInputError(
            f"records[{index}]: {'; '.join(parts)}; the model expects the features "
            f"{', '.join(shape.feature_names[:20])}" + (", ..." if shape.n_features > 20 else ""),
            hint="GET /v1/models/NAME lists every feature name",
        )
    return [_number(row[n], f"records[{index}][{n!r}]", shape) for n in shape.feature_names]


def _number(value: Any, where: str, shape: InputShape) -> float:
    if value is None:
        if shape.allow_nan:
            return _MISSING
        raise BadInputError(f"{where} is null; this model does not handle missing values")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(f"{where} must be a number, not {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise BadInputError(f"{where} is too large for a 64-bit float") from None
    if math.isnan(number):
        if shape.allow_nan:
            return _MISSING
        raise BadInputError(f"{where} is NaN; this model does not handle missing values")
    if math.isinf(number):
        raise BadInputError(f"{where} is infinite (or too large for a 64-bit float); send finite numbers")
    return number


def feedback_pairs(body: Any, max_rows: int) -> list[tuple[str, Any]]:
    """``(request_id, label)`` pairs of a feedback body ``{"request_ids": [...], "labels": [...]}``."""
    keys = only_keys(body, ("request_ids", "labels"), required=("request_ids", "labels"))
    ids, labels = keys["request_ids"], keys["labels"]
    if not isinstance(ids, list) or not isinstance(labels, list):
        raise BadInputError('"request_ids" and "labels" must both be lists')
    if len(ids) != len(labels):
        raise BadInputError(f"{len(ids)} request ids but {len(labels)} labels; send one label per request id")
    if not ids:
        raise BadInputError('"request_ids" is empty; send at least one request id and its label')
    if len(ids) > max_rows:
        raise PayloadTooLargeError(f"{len(ids)} labels is more than this server's limit of {max_rows} per request")
    for i, (rid, label) in enumerate(zip(ids, labels, strict=True)):
        if not isinstance(rid, str) or not 0 < len(rid) <= 64:
            raise BadInputError(f"request_ids[{i}] must be a request id string as returned by predict")
        if isinstance(label, bool) or not isinstance(label, str | int | float):
            raise BadInputError(f"labels[{i}] must be a class label (a string or a number), not {_kind(label)}")
    return list(zip(ids, labels, strict=True))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


__all__ = [
    "NOT_TEXT",
    "TEXT_HINT",
    "InputShape",
    "feedback_pairs",
    "numbers_only",
    "only_keys",
    "parse_json",
    "prediction_matrix",
    "prediction_rows",
]
