"""Provider status callbacks: ``POST /api/dials/{dial_id}/status`` (SPEC §6).

Authenticated by an HMAC-SHA256 signature of the body (``domain/signing.py``) with
the shared ``BATCHDIAL_DIALER_SECRET``, not by a workspace API key: the provider,
not the workspace, calls it. A signature outside the time tolerance is refused, so a
captured callback cannot be replayed (the time is the app's clock, ``create_app(clock=)``).

Of the fields beside ``status``, only the carrier's allowlist is kept, bounded in size;
the rest is dropped and the drop recorded (``domain/provider_details.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from domain.dials import LIVE_STATUSES, DialEnds
from domain.errors import InvalidInput, NotFound, Unauthorized
from domain.provider_details import bound_details
from domain.signing import SIGNATURE_HEADER, Clock, verify
from producer.http.deps import body_doc
from producer.http.openapi import errors
from producer.schemas.base import parse_body
from producer.schemas.callbacks import REPORTABLE_STATUSES, StatusIn
from producer.schemas.responses import DialStatusChange

router = APIRouter(tags=["provider"])


@router.post(
    "/api/dials/{dial_id}/status",
    response_model=DialStatusChange,
    responses=errors(400, 401, 404, 413, 422),
    openapi_extra={
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<dialId>.' + body>",
            }
        ],
        **body_doc(StatusIn),
    },
)
async def dial_status(dial_id: str, request: Request) -> JSONResponse:
    """A provider reports a dial's status; a final status ends the dial (idempotent)."""
    body = await request.body()
    secret: str | None = request.app.state.dialer_secret
    if not secret:
        raise Unauthorized("status callbacks need BATCHDIAL_DIALER_SECRET set on the API")
    clock: Clock = request.app.state.clock
    problem = verify(secret, dial_id, body, request.headers.get(SIGNATURE_HEADER), clock.time())
    if problem:
        raise Unauthorized(problem)
    report = parse_body(StatusIn, body)
    if report.status not in REPORTABLE_STATUSES:
        allowed = ", ".join(sorted(REPORTABLE_STATUSES))
        raise InvalidInput.one("status", f"must be one of {allowed}")
    ends: DialEnds = request.app.state.dial_ends
    ref = await run_in_threadpool(ends.locate, dial_id)
    if ref is None:
        raise NotFound(f"no dial {dial_id}")
    if report.status in LIVE_STATUSES:
        changed = await run_in_threadpool(ends.set_live_status, ref, report.status)
        return JSONResponse({"dialId": dial_id, "status": report.status, "changed": changed})
    details = bound_details(report.model_extra or {}) or None
    result = await run_in_threadpool(lambda: ends.finish(ref, report.status, details=details))
    changed = result.outcome == "finished"
    return JSONResponse({"dialId": dial_id, "status": report.status, "changed": changed})
