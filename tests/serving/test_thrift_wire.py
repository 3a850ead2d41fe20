"""The Thrift hot path's own decoding and encoding, byte for byte against thriftpy2's.

Rows of doubles are read from the frame as one matrix and ``predict``'s reply is written
without thriftpy2; both must give what thriftpy2 gives for the same bytes, and anything
else (ragged rows, other element types, a field sent twice) must go to thriftpy2 as before.
The server-level parity with HTTP is in ``test_thrift.py``.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.protocol.binary import TBinaryProtocol as PurePythonBinaryProtocol
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TMemoryBuffer

from workbench.errors import ServingError
from workbench.serving.inputs import InputShape, prediction_matrix
from workbench.serving.thrift_replies import PredictReplies
from workbench.serving.thrift_server import FrameReader, Limits, load_idl

WB = load_idl()
LIMITS = Limits(max_frame=1 << 20)


def _message(kind: int, body: Any, seqid: int) -> bytes:
    """A ``predict`` message of ``kind`` (call or reply) carrying ``body``, as thriftpy2 encodes it."""
    out = TMemoryBuffer()
    proto = TBinaryProtocol(out)
    proto.write_message_begin("predict", kind, seqid)
    body.write(proto)
    proto.write_message_end()
    return bytes(out.getvalue())


def _call(request: Any, seqid: int = 5) -> bytes:
    return _message(TMessageType.CALL, WB.Predictor.predict_args(request=request), seqid)


def _decoded(frame: bytes) -> Any:
    proto = TBinaryProtocol(TMemoryBuffer(frame))
    proto.read_message_begin()
    args = WB.Predictor.predict_args()
    args.read(proto)
    return args.request


def _rows(frame: bytes) -> tuple[bytes, np.ndarray] | None:
    reader = FrameReader(frame, LIMITS)
    assert reader.message_begin()[0] == "predict"
    reader.message_body()
    return reader.predict_rows()


def test_rows_of_doubles_are_read_as_one_matrix_and_the_rest_by_thriftpy2() -> None:
    X = np.random.default_rng(0).normal(size=(100, 30))
    X[3, 4], X[5, 6] = math.nan, -0.0
    request = WB.PredictRequest(model="m", instances=X.tolist(), routing_key="k", records=[{"a": 1.0}])
    found = _rows(_call(request))
    assert found is not None
    rest, matrix = found
    expected = _decoded(_call(request))
    assert matrix.dtype == np.float64 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, np.array(expected.instances))
    assert np.signbit(matrix[5, 6])
    others = _decoded(rest)
    assert (others.model, others.routing_key, others.records, others.instances) == ("m", "k", [{"a": 1.0}], None)


def _field(field_type: int, field_id: int, value: bytes) -> bytes:
    return struct.pack(">bh", field_type, field_id) + value


def _list(element: int, items: list[bytes]) -> bytes:
    return struct.pack(">bi", element, len(items)) + b"".join(items)


def _frame(request_fields: bytes, args_tail: bytes = b"") -> bytes:
    head = struct.pack(">Ii", 0x80010001, 7) + b"predict" + struct.pack(">i", 5)
    return head + _field(12, 1, request_fields + b"\x00") + args_tail + b"\x00"


MODEL = _field(11, 1, struct.pack(">i", 1) + b"m")
DOUBLES = _list(4, [struct.pack(">d", 1.5)] * 3)
OTHER_CALLS = {
    "ragged rows": _field(15, 2, _list(15, [DOUBLES, _list(4, [struct.pack(">d", 1.5)] * 2)])),
    "rows of i64": _field(15, 2, _list(15, [_list(10, [struct.pack(">q", 1)] * 3)] * 2)),
    "a set of rows": _field(15, 2, _list(14, [DOUBLES] * 2)),
    "empty rows": _field(15, 2, _list(15, [_list(4, [])] * 2)),
    "no rows": _field(15, 2, _list(15, [])),
    "instances twice": _field(15, 2, _list(15, [DOUBLES])) + _field(15, 2, _list(15, [DOUBLES] * 2)),
    "records only": _field(15, 3, _list(13, [])),
}


@pytest.mark.parametrize("case", sorted(OTHER_CALLS))
def test_anything_but_plain_rows_is_left_to_thriftpy2(case: str) -> None:
    frame = _frame(MODEL + OTHER_CALLS[case])
    assert _rows(frame) is None
    _decoded(frame)  # and thriftpy2 reads it as it always did


def test_a_request_sent_twice_is_left_to_thriftpy2() -> None:
    request = MODEL + _field(15, 2, _list(15, [DOUBLES]))
    assert _rows(_frame(request)) is not None
    assert _rows(_frame(request, args_tail=_field(12, 1, request + b"\x00"))) is None


def test_plain_rows_still_meet_every_limit() -> None:
    rows = _field(15, 2, _list(15, [DOUBLES] * 2))
    for limits, refusal in (
        (Limits(max_frame=1 << 20, container_length=2), "list of 3 entries"),
        (Limits(max_frame=1 << 20, max_depth=3), "deeper than 3"),
    ):
        reader = FrameReader(_frame(MODEL + rows), limits)
        reader.message_begin()
        with pytest.raises(ServingError, match=refusal):
            reader.message_body()
    truncated = _frame(MODEL + rows)[:-20]
    reader = FrameReader(truncated, LIMITS)
    reader.message_begin()
    with pytest.raises(ServingError, match="truncated"):
        reader.message_body()


SHAPE = InputShape(("a", "b", "c"), 3, False)


@pytest.mark.parametrize(
    "matrix",
    [np.ones((2, 2)), np.ones((5, 3)), np.array([[1.0, math.nan, 2.0]]), np.array([[1.0, math.inf, 2.0]])],
    ids=["wrong width", "too many rows", "NaN", "infinity"],
)
def test_a_matrix_the_checks_refuse_is_refused_as_its_lists_are(matrix: np.ndarray) -> None:
    with pytest.raises(ServingError) as from_lists:
        prediction_matrix({"instances": matrix.tolist()}, SHAPE, 4, numbers_only=True)
    with pytest.raises(type(from_lists.value)) as from_matrix:
        prediction_matrix({"instances": matrix}, SHAPE, 4, numbers_only=True)
    assert str(from_matrix.value) == str(from_lists.value)
    taken = np.arange(6.0).reshape(2, 3)
    assert prediction_matrix({"instances": taken}, SHAPE, 4, numbers_only=True) is taken


def _label_bytes(value: Any) -> bytes:
    out = TMemoryBuffer()
    WB.Label(**{_KIND[type(value)]: value}).write(TBinaryProtocol(out))
    return bytes(out.getvalue())


def _thriftpy2_reply(answer: dict[str, Any], seqid: int) -> bytes:
    response = WB.PredictResponse(
        model=answer["model"],
        version=answer["version"],
        predictions=[WB.Label(**{_KIND[type(p)]: p}) for p in answer["predictions"]],
        probabilities=answer["probabilities"],
        request_ids=answer["request_ids"],
        arm=answer["arm"],
    )
    return _message(TMessageType.REPLY, WB.Predictor.predict_result(success=response), seqid)


_KIND = {bool: "flag", int: "integer", float: "number", str: "text"}
_P = np.random.default_rng(1).random(50).tolist()
ANSWERS = {
    "integer classes": {
        "predictions": [i % 3 for i in range(50)],
        "probabilities": [{"0": p, "1": 1 - p, "2": 0.0} for p in _P],
        "arm": "production",
    },
    "text classes": {
        "predictions": ["sétosa" if p > 0.5 else "virginica" for p in _P],
        "probabilities": [{"sétosa": p, "virginica": 1 - p} for p in _P],
        "arm": "challenger",
    },
    "one class": {"predictions": [1] * 50, "probabilities": [{"1": 1.0}] * 50, "arm": "production"},
    "no probabilities": {"predictions": [True, 2, 2.5, "x"] * 5, "probabilities": None, "arm": None},
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_the_reply_is_the_one_thriftpy2_writes(case: str) -> None:
    ids = [f"{i:032x}" for i in range(len(ANSWERS[case]["predictions"]))]
    answer = {"model": "iris", "version": 3, "request_ids": ids, **ANSWERS[case]}
    replies = PredictReplies(_label_bytes)
    for _ in range(2):  # the second time from the kept labels and row layouts
        assert replies.reply(9, answer) == _thriftpy2_reply(answer, 9)


def test_rows_of_other_classes_or_order_and_other_ids_are_read_back_as_given() -> None:
    answer = {
        "model": "m",
        "version": 1,
        "predictions": [0, 1, 1],
        "probabilities": [{"0": 0.25, "1": 0.75}, {"1": 0.5, "0": 0.5}, {"0": 0.1, "2": 0.9}],
        "request_ids": ["a", "ünïcode", "b" * 40],
        "arm": "production",
    }
    # read with thriftpy2's pure-Python protocol: a decoder other than the one the server mirrors
    proto = PurePythonBinaryProtocol(TMemoryBuffer(PredictReplies(_label_bytes).reply(4, answer)))
    assert proto.read_message_begin() == ("predict", TMessageType.REPLY, 4)
    result = WB.Predictor.predict_result()
    result.read(proto)
    response = result.success
    assert [label.integer for label in response.predictions] == answer["predictions"]
    assert response.probabilities == answer["probabilities"]
    assert (response.request_ids, response.model, response.version) == (answer["request_ids"], "m", 1)
