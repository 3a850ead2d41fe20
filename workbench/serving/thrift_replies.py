"""``predict``'s Thrift reply written straight from the service's answer, in strict binary.

thriftpy2 writes a ``PredictResponse`` value by value: a ``Label`` struct per prediction, a
map per row of probabilities, a string per request id; for 100 rows that took longer than
the model. Here a label's bytes are written once per class and reused, the rows of
probabilities go out as one numpy record array (every row of a model has the same classes),
and request ids of one length as one joined string. The bytes are the ones thriftpy2
writes for the same response (the tests compare them; a row whose classes come in another
order than the first row's is written in the first row's order, the same map), so any
Thrift client reads them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

_REPLY = 0x80010002  # strict binary, version 1, message type REPLY
_BOOL, _DOUBLE, _I64, _STRING, _STRUCT, _MAP, _LIST = 2, 4, 10, 11, 12, 13, 15
MAX_KEPT_LABELS = 4096
_MAX_KEPT_CLASS_SETS = 64


class PredictReplies:
    """Writes the reply frame of a ``predict`` call from the answer of ``PredictionService.predict``.

    ``label_bytes`` gives the encoded ``Label`` struct of a class or prediction (written once
    by thriftpy2 and kept here per value).
    """

    def __init__(self, label_bytes: Callable[[Any], bytes]) -> None:
        self._label_bytes = label_bytes
        self._labels: dict[type, dict[Any, bytes]] = {}
        self._rows: dict[tuple[str, ...], tuple[np.ndarray, list[str]]] = {}

    def reply(self, seqid: int, answer: dict[str, Any]) -> bytes:
        """The payload of the reply frame: the message header, then ``predict_result`` holding the response."""
        predictions, probabilities, ids = answer["predictions"], answer["probabilities"], answer["request_ids"]
        parts = [
            struct.pack(">Ii", _REPLY, 7),
            b"predict",
            struct.pack(">ibh", seqid, _STRUCT, 0),  # predict_result.success
            _string_field(1, answer["model"]),
            struct.pack(">bhq", _I64, 2, answer["version"]),
            struct.pack(">bhbi", _LIST, 3, _STRUCT, len(predictions)),
            self._predictions(predictions),
        ]
        if probabilities is not None:
            parts += [struct.pack(">bhbi", _LIST, 4, _MAP, len(probabilities)), self._probabilities(probabilities)]
        parts += [struct.pack(">bhbi", _LIST, 5, _STRING, len(ids)), _strings(ids)]
        if answer["arm"] is not None:
            parts.append(_string_field(6, answer["arm"]))
        parts.append(b"\x00\x00")  # the end of the response, then of the result
        return b"".join(parts)

    def _predictions(self, values: Sequence[Any]) -> bytes:
        """The ``Label`` structs of the predictions: those of one type looked up in one pass."""
        kinds = set(map(type, values))
        if len(kinds) == 1:
            kept = self._labels.setdefault(kinds.pop(), {})
            try:
                return b"".join(map(kept.__getitem__, values))
            except (KeyError, TypeError):
                pass  # a value seen for the first time (or unhashable): one by one below
        return b"".join(map(self._label, values))

    def _label(self, value: Any) -> bytes:
        kept = self._labels.setdefault(type(value), {})
        found = kept.get(value)
        if found is None:
            found = self._label_bytes(value)
            if len(kept) < MAX_KEPT_LABELS:
                kept[value] = found
        return found

    def _probabilities(self, rows: Sequence[dict[str, float]]) -> bytes:
        """One ``map<string, double>`` per row; rows of the same classes in one record array, others one by one."""
        if not rows:
            return b""
        keys = tuple(rows[0])
        n, k = len(rows), len(keys)
        if set(map(len, rows)) == {k}:
            pick = itemgetter(*keys)
            try:
                # each row's values in the first row's class order (a map's order carries no meaning)
                picked = map(pick, rows) if k == 1 else chain.from_iterable(map(pick, rows))
                values = np.fromiter(picked, np.float64, n * k)
            except KeyError:
                pass  # rows of other classes: one by one below
            else:
                template, columns = self._row_layout(keys)
                table = np.repeat(template, n)
                matrix = values.reshape(n, k)
                for j, column in enumerate(columns):
                    table[column] = matrix[:, j]
                return table.tobytes()
        return b"".join(_map(row) for row in rows)

    def _row_layout(self, keys: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
        """A one-row record array holding a row's fixed bytes (the map header, each key) and the names of
        its value fields, kept per set of classes."""
        found = self._rows.get(keys)
        if found is not None:
            return found
        fields: list[tuple[str, str]] = []
        constant = bytearray()
        for j, key in enumerate(keys):
            prefix = _string(key)
            if j == 0:
                prefix = struct.pack(">bbi", _STRING, _DOUBLE, len(keys)) + prefix
            fields += [(f"k{j}", f"V{len(prefix)}"), (f"v{j}", ">f8")]
            constant += prefix + bytes(8)
        template = np.frombuffer(bytes(constant), dtype=np.dtype(fields)).copy()
        found = template, [f"v{j}" for j in range(len(keys))]
        if len(self._rows) < _MAX_KEPT_CLASS_SETS:
            self._rows[keys] = found
        return found


def _string(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def _string_field(field_id: int, value: str) -> bytes:
    return struct.pack(">bh", _STRING, field_id) + _string(value)


def _map(row: dict[str, float]) -> bytes:
    entries = b"".join(_string(k) + struct.pack(">d", v) for k, v in row.items())
    return struct.pack(">bbi", _STRING, _DOUBLE, len(row)) + entries


def _strings(values: Sequence[str]) -> bytes:
    """The elements of a ``list<string>``: request ids of one length in one join, others one by one."""
    if values and "".join(values).isascii() and len({len(v) for v in values}) == 1:
        # an ASCII string encodes to its own characters; the length prefix is spelled as Latin-1
        length = struct.pack(">i", len(values[0])).decode("latin-1")
        return (length + length.join(values)).encode("latin-1")
    return b"".join(_string(v) for v in values)


__all__ = ["MAX_KEPT_LABELS", "PredictReplies"]
