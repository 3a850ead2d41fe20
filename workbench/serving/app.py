"""The HTTP front end: a FastAPI app under ``/v1`` over a :class:`ModelFactory`.

Routes only read the body and call :class:`PredictionService` (shared with Thrift): it
checks rows, predicts, logs and joins feedback. Every refusal is a JSON body built from a
:class:`ServingError` (message and hint, never a traceback, path or token).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from workbench.errors import BadInputError, PayloadTooLargeError, ServingError, UnauthorizedError, WorkbenchError
from workbench.listening import bearer, token_matches
from workbench.scoring import AVERAGE
from workbench.serving import schemas
from workbench.serving.factory import ModelFactory, ServedModel
from workbench.serving.inputs import numbers_only, parse_json
from workbench.serving.loop_metrics import LoopFigures
from workbench.serving.metrics import LiveFigures
from workbench.serving.predlog import LiveReport
from workbench.serving.routing import Route
from workbench.serving.service import Observation, PredictionService, ServeConfig

log = logging.getLogger("workbench.serving")


def _error_body(exc: WorkbenchError) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body of ``request`` (see :func:`read_body`)."""
    return parse_json(await read_body(RequestHead(request.scope["headers"]), request.receive, limit, request.url.path))


class RequestHead:
    """The request headers a body route reads, picked from the raw ASGI list in one pass (first occurrence wins)."""

    __slots__ = ("chunked", "content_encoding", "content_length", "content_type", "routing_key")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        found: dict[bytes, bytes] = {}
        for key, value in raw:
            if key in _READ and key not in found:
                found[key] = value
        self.content_type = found.get(b"content-type", b"").decode("latin-1")
        self.content_length = found[b"content-length"].decode("latin-1") if b"content-length" in found else None
        self.content_encoding = found.get(b"content-encoding", b"identity").decode("latin-1")
        self.routing_key = found[b"x-routing-key"].decode("latin-1") if b"x-routing-key" in found else None
        self.chunked = b"transfer-encoding" in found


_READ = frozenset({b"content-type", b"content-length", b"content-encoding", b"x-routing-key", b"transfer-encoding"})


async def read_body(head: RequestHead, receive: Receive, limit: int, path: str) -> bytes:
    """The body of a request with headers ``head``: refused with 413 as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a
    streamed body is refused at the chunk that crosses the limit. Only ``application/json``
    is accepted, in UTF-8 (a ``charset`` other than ``utf-8`` is refused), uncompressed (any
    ``Content-Encoding`` but ``identity`` is refused): no route ever decodes another format.
    A client that goes away before the whole body arrived is logged in one line.
    """
    check_media_type(head)
    declared = head.content_length
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLargeError(f"the body is larger than this server's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            log.warning("%r: a client left before sending the whole body", path[:200])
            raise BadInputError("the client closed the connection before sending the whole body", status=400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is larger than this server's limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_media_type(head: RequestHead) -> None:
    """Refuse (415) a body that is not UTF-8 JSON as sent: another type, another charset, compressed."""
    if head.content_type == "application/json":
        media_type, parameters = head.content_type, ""
    else:
        media_type, _, parameters = head.content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        raise BadInputError("send the body as JSON with Content-Type: application/json", status=415)
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise BadInputError(
                f"the body must be UTF-8 JSON, not charset={charset[:32]}",
                status=415,
                hint="encode the body as UTF-8 and send Content-Type: application/json",
            )
    encoding = head.content_encoding.strip().lower()
    if encoding not in ("", "identity"):
        raise BadInputError(
            f"compressed bodies are not accepted (Content-Encoding: {encoding[:32]})",
            status=415,
            hint="send the JSON body uncompressed",
        )


class PredictEndpoint:
    """``POST /v1/models/{name}/predict`` answered straight from ASGI; every other request goes to ``api``.

    The FastAPI app still declares the route (the OpenAPI document, the docs page); this
    answers it without the framework's routing, middleware and parameter solving, which
    cost more than predicting a row. The checks, answers, errors and counters are the
    route's own: :func:`read_body`, :class:`PredictionService`, the same JSON error bodies.
    """

    def __init__(self, api: FastAPI, service: PredictionService) -> None:
        self.api = api
        self.service = service

    @property
    def limit(self) -> int:
        """The largest request body accepted, in bytes."""
        return self.service.config.max_body

    def inline_route(self, name: str) -> Route | None:
        """The routing entry of ``name`` when all its arms answer on the event loop (:attr:`Route.inline`), else
        ``None`` (also for a model not served: the ASGI route refuses it)."""
        try:
            route = self.service.factory.route(name)
        except ServingError:
            return None
        return route if route.inline else None

    def mount(self, path: str, app: Any) -> None:
        """Mount ``app`` at ``path`` of the API (the dashboard, and other ``workbench.mounts``)."""
        self.api.mount(path, app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith("/v1/models/") and path.endswith("/predict"):
                name = path[11:-8]
                if name and "/" not in name:
                    await self.predict(name, scope, receive, send)
                    return
        await self.api(scope, receive, send)

    async def predict(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service
        status = 200
        try:
            with service.observed("predict") as seen:
                route = service.route(name, seen)
                head = RequestHead(scope["headers"])
                body = await read_body(head, receive, service.config.max_body, scope["path"])
                # ONNX Runtime answers sooner than a hop to a worker thread; scikit-learn may take milliseconds
                if route.inline:
                    data = self.answer(route, head, body, seen)
                else:
                    data = await run_in_threadpool(self.answer, route, head, body, seen)
        except ServingError as exc:
            status, data = int(exc.status), orjson.dumps(_error_body(exc))
        except WorkbenchError as exc:
            status, data = 503, orjson.dumps(_unavailable(scope["path"], exc))
        except Exception:
            status, data = 500, _failed(scope["path"])
        headers = [(b"content-length", b"%d" % len(data)), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def answer(self, route: Route, head: RequestHead, body: bytes, seen: Observation) -> bytes:
        """The JSON answer to the predict ``body`` (already read and within the limit) for ``route``; raises the
        refusal. Blocking: the model runs here."""
        answer = self.service.predict(
            route, parse_json(body), routing_key=head.routing_key, seen=seen, numbers_only=numbers_only(body)
        )
        return orjson.dumps(answer)

    def answer_now(self, route: Route, head: RequestHead, body: bytes, path: str, started: float) -> tuple[int, bytes]:
        """Status and JSON body of a predict whose whole body is in hand, for ``route`` (an inline model).

        What :meth:`predict` answers to the same request, counted the same way (``started``
        is :func:`time.perf_counter` when its headers were read), without ASGI: the
        connection's protocol calls it when the body is complete
        (:mod:`workbench.serving.protocol`). Never raises: an unexpected error is a 500 and a log line.
        """
        counters = self.service.counters
        seen = Observation(route.name, str(route.production.version.version))
        try:
            check_media_type(head)
            data = self.answer(route, head, body, seen)
        except ServingError as exc:
            status = int(exc.status)
            elapsed = time.perf_counter() - started
            counters.observe("predict", seen.model, seen.version, status, elapsed, type(exc).__name__)
            return status, orjson.dumps(_error_body(exc))
        except WorkbenchError as exc:
            return 503, orjson.dumps(_unavailable(path, exc))
        except Exception:
            return 500, _failed(path)
        counters.observe("predict", seen.model, seen.version, 200, time.perf_counter() - started)
        return 200, data

    def abandoned(self, route: Route, path: str, started: float) -> None:
        """Count and log a predict whose client left before sending its whole body, as :func:`read_body` does."""
        log.warning("%r: a client left before sending the whole body", path[:200])
        elapsed = time.perf_counter() - started
        version = str(route.production.version.version)
        self.service.counters.observe("predict", route.name, version, 400, elapsed, "BadInputError")


class _Delegated(Response):
    """A response that is :class:`PredictEndpoint`'s answer to the request."""

    def __init__(self, endpoint: PredictEndpoint, name: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint.predict(self.name, scope, receive, send)


def _failed(path: str) -> bytes:
    """The 500 body of a predict that failed unexpectedly; the traceback goes to the log, not to the client."""
    log.exception("%r: predict failed", path[:200])
    error = ServingError(
        "the server failed to answer this request", status=500, hint="retry; if it persists, see the server log"
    )
    return orjson.dumps(_error_body(error))


def _unavailable(path: str, exc: WorkbenchError) -> dict[str, str]:
    # store failures may name hosts or files: the detail goes to the log, not to the client
    log.warning("%s: %s", path, exc)
    return _error_body(ServingError("the model store could not answer", hint="retry in a moment"))


def _check_token(request: Request, token: str) -> None:
    if not token_matches(bearer(request.headers.get("authorization")), token):
        raise UnauthorizedError("this route needs the server's token")


def _describe(served: ServedModel) -> dict[str, Any]:
    v = served.version
    return {
        "name": v.name,
        "version": v.version,
        "stage": v.stage,
        "created_at": v.created_at,
        "n_features": served.shape.n_features,
        "feature_names": list(served.shape.feature_names),
        "classes": v.classes,
        "handles_missing_values": served.shape.allow_nan,
        "engine": served.engine.name,
        "metrics": v.metrics,
    }


_REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse} for code in (400, 401, 404, 413, 415, 422)
}


def create_app(
    factory: ModelFactory, config: ServeConfig, service: PredictionService | None = None
) -> PredictEndpoint:
    """The ASGI app serving ``factory``'s models; polling starts and stops with the app's lifespan.

    It is the FastAPI app (``.api``) with :class:`PredictEndpoint` in front.

    Pass ``service`` to share it (its prediction log, live metrics and counters) with another
    front end, which must stop before the app does: the app's shutdown closes the service,
    writing the buffered predictions.
    """
    service = service or PredictionService(factory, config)
    counters = service.counters
    loop_figures = LoopFigures()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        factory.start(config.reload_seconds)
        service.reporter.start()
        try:
            yield
        finally:
            service.reporter.stop()
            factory.stop()
            loop_figures.close()
            # buffered predictions are written before the process ends
            await run_in_threadpool(service.close)

    app = FastAPI(title="workbench serving", version="1", lifespan=lifespan)
    endpoint = PredictEndpoint(app, service)

    @app.exception_handler(ServingError)
    async def refused(request: Request, exc: ServingError) -> JSONResponse:
        return JSONResponse(_error_body(exc), status_code=int(exc.status))

    @app.exception_handler(HTTPException)
    async def http_refused(request: Request, exc: HTTPException) -> JSONResponse:
        error = ServingError(str(exc.detail), hint="see /docs for the routes and their methods")
        return JSONResponse(_error_body(error), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(WorkbenchError)
    async def unavailable(request: Request, exc: WorkbenchError) -> JSONResponse:
        return JSONResponse(_unavailable(request.url.path, exc), status_code=503)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness, how many models are served, the id of the server process that answered and its replica name."""
        return {"status": "ok", "models": len(factory.served()), "pid": os.getpid(), "replica": service.replica}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text: requests, errors, latency, live precision/recall/F1 per version and arm, drift, loops."""
        figures = await run_in_threadpool(_live_figures, service)
        loop = "\n".join(await run_in_threadpool(loop_figures.lines)) + "\n"
        return PlainTextResponse(counters.render(figures) + loop, media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """Every served model and the version answering for it."""
        return {"models": [_describe(s) for s in factory.served()]}

    @app.get("/v1/models/{name}", responses=_REFUSALS)
    async def show_model(name: str) -> dict[str, Any]:
        """The served versions, every registered version with its stage and offline metrics, live figures.

        ``live`` (per version and arm; ``live_average`` says its precision, recall and F1 are
        macro averages, as the registry's ``*_macro`` metrics and the gates), ``traffic`` (last
        minute) and ``drift`` (PSI per feature, per served version) are ``null`` with
        ``live_error`` set while the prediction log cannot be read.
        """
        route = service.route(name)
        versions = await run_in_threadpool(factory.registry.store.list_versions, name)
        return {
            **_describe(route.production),
            "challenger": (
                {**_describe(route.challenger), "weight": route.weight} if route.challenger is not None else None
            ),
            "versions": [
                {"version": v.version, "stage": v.stage, "created_at": v.created_at, "metrics": v.metrics}
                for v in versions
            ],
            "live_average": AVERAGE,
            **await run_in_threadpool(_live_detail, service, route),
        }

    @app.post(
        "/v1/models/{name}/predict",
        response_model=schemas.PredictResponse,
        responses=_REFUSALS,
        openapi_extra={"requestBody": _body_schema(schemas.PredictRequest), "parameters": [_NAME_PARAMETER]},
    )
    async def predict(request: Request) -> Response:
        """Predictions (and class probabilities when the model has them) for every row, from one version."""
        # PredictEndpoint answers before the app routes a request; this route documents it and,
        # reached some other way (a mount under another path), hands the request to it
        return _Delegated(endpoint, request.path_params["name"])

    @app.post(
        "/v1/models/{name}/feedback",
        response_model=schemas.FeedbackResponse,
        responses=_REFUSALS,
        openapi_extra={"requestBody": _body_schema(schemas.FeedbackRequest)},
    )
    async def feedback(name: str, request: Request) -> dict[str, int]:
        """True labels for earlier request ids (needs ``Authorization: Bearer TOKEN``)."""
        with service.observed("feedback") as seen:
            _check_token(request, config.token)
            route = service.route(name)
            seen.model = route.name
            result = service.feedback(route, await read_json(request, config.max_body))
        return {"accepted": result.accepted, "unknown": result.unknown, "duplicate": result.duplicate}

    return endpoint


def _live_figures(service: PredictionService) -> LiveFigures:
    """The prediction log's figures for ``/metrics``; what cannot be read is left out and flagged, never zeroed."""
    reports: list[LiveReport] | None = None
    feedback: dict[tuple[str, str], int] | None = None
    drift: dict[tuple[str, int], dict[str, float]] = {}
    try:
        reports = service.log.live()
        feedback = service.log.feedback_counts()
        for route in service.factory.routes():
            for _, served in route.arms():
                drift[(route.name, served.version.version)] = service.log.drift(route.name, served.version.version)
    except WorkbenchError as exc:
        log.warning("/metrics: the prediction log could not be read: %s", exc)
    return LiveFigures(service.writer.stats(), reports, feedback, drift)


def _live_detail(service: PredictionService, route: Route) -> dict[str, Any]:
    try:
        return {
            "live": [asdict(r) for r in service.log.live(route.name)],
            "traffic": [asdict(r) for r in service.log.traffic(route.name)],
            "drift": {
                str(served.version.version): service.log.drift(route.name, served.version.version)
                for _, served in route.arms()
            },
        }
    except WorkbenchError as exc:
        log.warning("/v1/models/%s: the prediction log could not be read: %s", route.name, exc)
        return {"live": None, "traffic": None, "drift": None, "live_error": "the prediction log could not be read"}


_NAME_PARAMETER = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "title": "Name"}}


def _body_schema(model: type[Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}


__all__ = ["PredictEndpoint", "RequestHead", "ServeConfig", "create_app", "read_body", "read_json"]
