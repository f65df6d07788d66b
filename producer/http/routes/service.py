"""The service routes of SPEC §4.9: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.storage import read_memory
from producer.http.deps import Prod
from producer.http.errors import error_response
from producer.http.openapi import errors
from producer.schemas.responses import Status

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Status)
def healthz() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", response_model=Status, responses=errors())
def readyz(
    producer: Prod,
    serving: Annotated[
        bool,
        Query(
            alias="serving",
            description=(
                "true: ready while the API can serve (Redis reachable), full or not, "
                "for a load balancer's readiness probe; a full Redis answers 200 "
                '`{"status": "storage_full"}`'
            ),
        ),
    ] = False,
) -> JSONResponse:
    """Redis answers, and is not at its maxmemory limit (503 ``storage_full`` then: reads
    are served, writes refused).

    A full Redis still lets the API serve reads and answer writes with an actionable
    503, so a readiness probe that took every API instance out of service would only
    turn those answers into connection errors: probes ask with ``serving=true``.
    """
    try:
        producer.redis.ping()
        memory = read_memory(producer.redis)
    except redis.RedisError as exc:
        return error_response(503, "unavailable", f"Redis is not reachable: {type(exc).__name__}")
    if memory is not None and memory.full:
        if serving:
            return JSONResponse({"status": "storage_full"})
        return error_response(
            503,
            "storage_full",
            f"Redis is full ({memory.describe()}): writes are refused, reads still work. "
            "Free memory in Redis: raise maxmemory or remove data that is no longer needed",
        )
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "the Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics of this process, and namespace-wide figures read from Redis."""
    text = generate_latest() + generate_latest(request.app.state.redis_metrics)
    return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)
