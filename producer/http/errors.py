"""The JSON error shape of SPEC §4 and the mapping from exceptions to statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from domain.errors import (
    BatchDialError,
    Conflict,
    InvalidInput,
    MalformedBody,
    NotFound,
    TooLarge,
    Unauthorized,
)
from domain.storage import is_storage_full
from producer.validation import path_of

log = structlog.get_logger(__name__)


class BodyTimeout(Exception):
    """Raised while reading a request body that took longer than the read timeout."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"the request body was not received within {timeout_s:g} s; send it faster "
            f"or in a smaller request"
        )


_STATUS: dict[type[BatchDialError], tuple[int, str]] = {
    InvalidInput: (422, "invalid_input"),
    MalformedBody: (400, "malformed_body"),
    Unauthorized: (401, "unauthorized"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    TooLarge: (413, "too_large"),
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``{"error": {"code", "message", "details"}}`` with ``status``."""
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = 'Bearer realm="batchdial"'
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or []}},
        status_code=status,
        headers=all_headers or None,
    )


def body_timeout_response(exc: BodyTimeout) -> JSONResponse:
    """408 ``body_timeout``; the connection closes (the rest of the body is not awaited)."""
    return error_response(408, "body_timeout", str(exc), headers={"Connection": "close"})


def internal_error_response() -> JSONResponse:
    """500 ``internal``: what an unexpected exception answers (it is logged)."""
    return error_response(500, "internal", "an unexpected error happened; it was logged")


def _methods_of(request: Request) -> list[str]:
    """Every method the routes of the request's path answer."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the SPEC shape: ours, FastAPI's, and Redis being away.

    Unexpected exceptions are answered by :class:`producer.http.middleware.last_resort.
    LastResort` (not by a handler here: Starlette re-raises after such a handler, and
    the server then drops the connection).
    """

    @app.exception_handler(BatchDialError)
    async def _ours(_request: Request, exc: BatchDialError) -> JSONResponse:
        status, code = _STATUS.get(type(exc), (400, "bad_request"))
        if isinstance(exc, InvalidInput):
            return error_response(
                status,
                code,
                f"the request is invalid ({len(exc.problems)} problem(s)); nothing was stored",
                [p.as_dict() for p in exc.problems],
            )
        return error_response(status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            if loc and loc[0] in ("query", "path", "header", "body"):
                loc = loc[1:]
            details.append({"path": path_of(loc), "message": str(err.get("msg", "is invalid"))})
        return error_response(422, "invalid_input", "the request is invalid", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names one route's methods; RFC 9110 wants the resource's.
            headers["Allow"] = ", ".join(_methods_of(request))
        return error_response(
            exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail), headers=headers
        )

    async def _redis_away(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis_unavailable", path=request.url.path, error=type(exc).__name__)
        return error_response(
            503, "unavailable", "the store (Redis) is not reachable right now; retry shortly"
        )

    for away in (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        app.add_exception_handler(away, _redis_away)

    @app.exception_handler(redis.ResponseError)
    async def _redis_refused(request: Request, exc: redis.ResponseError) -> JSONResponse:
        # OutOfMemoryError, or the same refusal met by a write inside a Lua script.
        if is_storage_full(exc):
            log.warning("storage_full", path=request.url.path, method=request.method)
            return error_response(503, "storage_full", STORAGE_FULL_MESSAGE)
        raise exc  # any other refusal is unexpected: answered 500 by LastResort

    @app.exception_handler(BodyTimeout)
    async def _body_timeout(request: Request, exc: BodyTimeout) -> JSONResponse:
        log.info("body_timeout", method=request.method, path=request.url.path)
        return body_timeout_response(exc)


#: What a write answers while Redis is at maxmemory: what happened, and what to do.
STORAGE_FULL_MESSAGE = (
    "the store is full: Redis is at its maxmemory limit (maxmemory-policy noeviction) and "
    "refuses writes, so this request had no effect; reads still work. An operator must "
    "free memory in Redis (raise maxmemory, e.g. CONFIG SET maxmemory, or remove data that "
    "is no longer needed); then retry"
)
