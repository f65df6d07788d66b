"""The HTTP API of SPEC §4 (FastAPI): thin handlers over :class:`producer.service.Producer`."""

from __future__ import annotations

import time
from typing import Annotated, Any, TypeVar

import redis
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.broker import BrokerOutbox
from domain.dials import DialEnds
from domain.errors import InvalidInput, MalformedBody, Unauthorized
from domain.jsonbody import parse_json_object
from domain.keys import Keys
from domain.metrics import RedisCollector
from producer.callbacks import router as callbacks_router
from producer.http_errors import error_response, install_error_handlers
from producer.models import JobCreate, JobUpdate, PausedIn
from producer.service import Producer
from producer.settings_models import BODY_MODELS
from producer.stream import event_stream_router
from producer.validation import Limits, problems_of
from producer.webpage import page_router

HTTP_REQUESTS = Counter(
    "batchdial_http_requests_total",
    "HTTP requests answered by the API, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "batchdial_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)


class BodyLimit:
    """ASGI middleware: answers 413 to a body over ``max_bytes`` without reading it all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "too_large", f"the request body is over the limit of {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _schema_ref(model: type[Any]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json_body(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(model)}},
        }
    }


M = TypeVar("M", bound=BaseModel)

#: The JSON schema of every error answer (SPEC §4).
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}


def parse_model(model: type[M], body: bytes) -> M:
    """A small request body (not a job) parsed strictly and validated into ``model``."""
    try:
        return model.model_validate(parse_json_object(body))
    except ValidationError as exc:
        raise InvalidInput(problems_of(exc)) from None


async def _read_json(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type.split(";")[0].lower():
        raise MalformedBody(
            f"the body must be JSON (Content-Type: application/json), got {content_type}"
        )
    return await request.body()


def _producer(request: Request) -> Producer:
    producer: Producer = request.app.state.producer
    return producer


def workspace_id(
    request: Request,
    api_key: Annotated[str | None, Header(alias="api_key", convert_underscores=False)] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    """The caller's workspace, from ``api_key: KEY`` or ``Authorization: Bearer KEY``."""
    key = api_key
    if key is None and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer KEY' or the header 'api_key: KEY'")
        key = token.strip()
    return _producer(request).workspaces.authenticate(key)


Ws = Annotated[str, Depends(workspace_id)]
Prod = Annotated[Producer, Depends(_producer)]
Limit = Annotated[int | None, Query(description="page size, 1..500 (default 50)")]
Cursor = Annotated[str | None, Query(description="the nextCursor of the previous page")]
JOBS = "/api/batch_dial_jobs"

router = APIRouter()


@router.post(JOBS, status_code=201, openapi_extra=_json_body(JobCreate), tags=["jobs"])
async def create_job(request: Request, ws: Ws, producer: Prod) -> JSONResponse:
    """Create a job (state INIT) from the body of SPEC §4.1."""
    body = await _read_json(request)
    job = await run_in_threadpool(producer.create_job, ws, body)
    return JSONResponse(job, status_code=201)


@router.get(JOBS, tags=["jobs"])
def list_jobs(ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
    """The workspace's jobs, newest first."""
    return producer.list_jobs(ws, limit, cursor).as_dict()


@router.get(JOBS + "/{job_id}", tags=["jobs"])
def get_job(job_id: str, ws: Ws, producer: Prod) -> dict[str, Any]:
    """One job with its counters."""
    return producer.get_job(ws, job_id)


@router.put(JOBS + "/{job_id}", openapi_extra=_json_body(JobUpdate), tags=["jobs"])
async def update_job(job_id: str, request: Request, ws: Ws, producer: Prod) -> dict[str, Any]:
    """Change a job's configuration; staged while ACTIVE, applied at the next pause."""
    body = await _read_json(request)
    job: dict[str, Any] = await run_in_threadpool(producer.update_job, ws, job_id, body)
    return job


@router.post(JOBS + "/{job_id}/paused", openapi_extra=_json_body(PausedIn), tags=["jobs"])
async def set_paused(job_id: str, request: Request, ws: Ws, producer: Prod) -> dict[str, Any]:
    """Start or resume (``paused: false``), or pause (``paused: true``) a job."""
    body = parse_model(PausedIn, await _read_json(request))
    job: dict[str, Any] = await run_in_threadpool(producer.set_paused, ws, job_id, body.paused)
    return job


@router.post(JOBS + "/{job_id}/cancel", tags=["jobs"])
def cancel_job(job_id: str, ws: Ws, producer: Prod) -> dict[str, Any]:
    """Cancel a job: no new dial starts; rows still waiting are cancelled."""
    return producer.cancel_job(ws, job_id)


@router.get(JOBS + "/{job_id}/queue", tags=["jobs"])
def queue(
    job_id: str, ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> dict[str, Any]:
    """Rows still waiting to be dialed, in dialing order."""
    return producer.queue(ws, job_id, limit, cursor).as_dict()


@router.get(JOBS + "/{job_id}/dials", tags=["jobs"])
def dials(
    job_id: str, ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> dict[str, Any]:
    """Every dial attempt of the job, newest first."""
    return producer.dials(ws, job_id, limit, cursor).as_dict()


@router.get(JOBS + "/{job_id}/events", tags=["jobs"])
def events(
    job_id: str, ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> dict[str, Any]:
    """The job's event log in order; ``cursor`` is the id of the last event read."""
    return producer.events(ws, job_id, limit, cursor).as_dict()


@router.get("/healthz", tags=["service"])
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["service"])
def readyz(producer: Prod) -> JSONResponse:
    """Redis answers."""
    try:
        producer.redis.ping()
    except redis.RedisError as exc:
        return error_response(503, "unavailable", f"Redis is not reachable: {type(exc).__name__}")
    return JSONResponse({"status": "ready"})


@router.get("/metrics", tags=["service"])
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics of this process, and namespace-wide figures read from Redis."""
    text = generate_latest() + generate_latest(request.app.state.redis_metrics)
    return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)


class Measure:
    """ASGI middleware: counts and times requests by route template (not by id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)


def create_app(
    client: redis.Redis,
    namespace: str,
    *,
    limits: Limits | None = None,
    max_body_bytes: int = 32 * 1024 * 1024,
    dialer_secret: str | None = None,
    outbox: BrokerOutbox | None = None,
) -> FastAPI:
    """The API over one Redis and namespace. With ``outbox`` (the workers' broker), a
    provider's callback that ends a dial sends the dial messages of the rows released
    into the freed slot at once; without, the job's scheduler releases them."""
    app = FastAPI(
        title="batchdial",
        version="0.1.0",
        description="Outbound calling campaigns (batch dial jobs). See SPEC §4.",
    )
    app.state.producer = Producer(client, namespace, limits)
    app.state.dial_ends = DialEnds(client, Keys(namespace))
    app.state.dialer_secret = dialer_secret
    app.state.dial_outbox = outbox
    app.state.redis_metrics = CollectorRegistry(auto_describe=False)
    app.state.redis_metrics.register(RedisCollector(client, Keys(namespace)))
    install_error_handlers(app)
    app.add_middleware(Measure)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.include_router(router)
    app.include_router(callbacks_router)
    app.include_router(event_stream_router(workspace_id))
    app.include_router(page_router())
    # Imported here: producer.workspace_api builds on this module's helpers.
    from producer.workspace_api import router as workspace_router  # noqa: PLC0415

    app.include_router(workspace_router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # FastAPI documents its own 422 body; ours is the SPEC error shape.
        components.pop("ValidationError", None)
        components["HTTPValidationError"] = ERROR_SCHEMA
        for model in (JobCreate, JobUpdate, PausedIn, *BODY_MODELS):
            doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(doc.pop("$defs", {}))
            components[model.__name__] = doc
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
