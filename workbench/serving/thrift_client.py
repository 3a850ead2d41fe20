"""A Python client for ``workbench serve --thrift-port``, built from the shipped ``workbench.thrift``.

::

    from workbench.serving.thrift_client import connect, predictions

    with connect("127.0.0.1", 9090) as (client, wb):
        answer = client.predict(wb.PredictRequest(model="iris", instances=[[5.1, 3.5, 1.4, 0.2]]))
        predictions(answer)          # [0], the same values the HTTP API gives

Any other Thrift client works too: the server speaks the strict binary protocol over the
framed transport.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from workbench.serving.thrift_server import load_idl


@contextmanager
def connect(host: str = "127.0.0.1", port: int = 9090, *, timeout: float = 30.0) -> Iterator[tuple[Any, ModuleType]]:
    """A connected ``Predictor`` client and the IDL module (for its structs and exceptions); closed on exit."""
    from thriftpy2.protocol import TBinaryProtocolFactory
    from thriftpy2.rpc import make_client
    from thriftpy2.transport import TFramedTransportFactory

    idl = load_idl()
    client = make_client(
        idl.Predictor,
        host,
        port,
        proto_factory=TBinaryProtocolFactory(),
        trans_factory=TFramedTransportFactory(),
        timeout=int(timeout * 1000),
        socket_family=socket.AF_INET6 if ":" in host else socket.AF_INET,
    )
    try:
        yield client, idl
    finally:
        client.close()


def label_value(label: Any) -> Any:
    """The Python value a ``Label`` holds: an int, float, str or bool, as JSON would give it."""
    for value in (label.integer, label.number, label.text, label.flag):
        if value is not None:
            return value
    return None


def predictions(response: Any) -> list[Any]:
    """The predictions of a ``PredictResponse`` as plain values, equal to the HTTP API's ``predictions``."""
    return [label_value(label) for label in response.predictions]


__all__ = ["connect", "label_value", "predictions"]
