"""The predict hot path keeps the contract: its one-call conversion accepts and refuses exactly as the checks do."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.serving.test_corpus import CASES, MAX_ROWS
from workbench.errors import ServingError
from workbench.serving.inputs import InputShape, numbers_only, parse_json, prediction_matrix, prediction_rows

SHAPES = [InputShape(("x0", "x1", "x2", "x3"), 4, False), InputShape(("x0", "x1", "x2", "x3"), 4, True)]


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "answer", [[repr(x) for x in row] for row in np.asarray(call(), dtype=np.float64).tolist()]
    except ServingError as exc:
        return "refused", (type(exc).__name__, exc.message, exc.hint, exc.status)


def _bodies() -> list[bytes]:
    bodies = [case.body for case in CASES if case.path.endswith("/predict") and case.method == "POST"]
    rows = [[5.1, 3.5, 1.4, 0.2], [1, 2, 3, 4], [0.0, -1e308, 1e-308, 7]]
    bodies += [json.dumps({"instances": rows[:n]}).encode() for n in (1, 2, 3)]
    bodies += [b'{"instances": [[1, 2, 3, 18446744073709551615]]}', b'{"instances": [[1, 2, 3, 1e308]]}']
    return bodies


def test_the_one_call_conversion_answers_and_refuses_like_the_value_checks() -> None:
    compared = fast = 0
    for body in _bodies():
        try:
            value = parse_json(body)
        except ServingError:
            continue
        plain = numbers_only(body)
        for shape in SHAPES:
            expected = _outcome(lambda v=value, s=shape: prediction_rows(v, s, MAX_ROWS))
            found = _outcome(lambda v=value, s=shape, p=plain: prediction_matrix(v, s, MAX_ROWS, numbers_only=p))
            assert found == expected, body[:120]
            compared += 1
            fast += plain and expected[0] == "answer"
    assert compared > 300 and fast >= 6


def test_numbers_only_is_false_for_any_string_boolean_or_null() -> None:
    assert numbers_only(b'{"instances": [[1, 2.5e-3, -4, 0]]}')
    for body in (
        b'{"instances": [[true]]}',
        b'{"instances": [[null]]}',
        b'{"instances": [["1"]]}',
        b'{"instances": [[1]], "routing_key": "k"}',
        b'{"records": [{"x0": 1}]}',
        b'{"instances": [[false]]}',
    ):
        assert not numbers_only(body), body
