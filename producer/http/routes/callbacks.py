"""Provider status callbacks: ``POST /api/dials/{dial_id}/status`` (SPEC §6).

Authenticated by an HMAC-SHA256 signature of the body (``domain/signing.py``) with
the shared ``BATCHDIAL_DIALER_SECRET``, not by a workspace API key: the provider,
not the workspace, calls it. A signature outside the time tolerance is refused, so a
captured callback cannot be replayed (the time is the app's clock, ``create_app(clock=)``).

Of the fields beside ``status``, only the carrier's allowlist is kept, bounded in size;
the rest is dropped and the drop recorded (``domain/provider_details.py``).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import State

from config.broker import BrokerOutbox
from domain.dials import LIVE_STATUSES, DialEnds
from domain.errors import InvalidInput, NotFound, Unauthorized
from domain.provider_details import bound_details
from domain.signing import SIGNATURE_HEADER, Clock, verify
from producer.dialreports import end_and_refill
from producer.http.deps import body_doc
from producer.http.hop import in_thread
from producer.http.openapi import errors, required_header
from producer.schemas.base import parse_body
from producer.schemas.callbacks import REPORTABLE_STATUSES, StatusIn
from producer.schemas.responses import DialStatusChange

router = APIRouter(tags=["provider"])
log = structlog.get_logger(__name__)


@router.post(
    "/api/dials/{dial_id}/status",
    response_model=DialStatusChange,
    responses=errors(400, 401, 404, 413, 422),
    openapi_extra={
        "parameters": [
            required_header(
                SIGNATURE_HEADER, "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<dialId>.' + body>"
            )
        ],
        **body_doc(StatusIn),
    },
)
async def dial_status(dial_id: str, request: Request) -> JSONResponse:
    """A provider reports a dial's status; a final status ends the dial (idempotent)."""
    body = await request.body()
    answer = await apply_report(
        request.app.state, dial_id, body, request.headers.get(SIGNATURE_HEADER)
    )
    return JSONResponse(answer)


async def apply_report(
    state: State, dial_id: str, body: bytes, signature: str | None
) -> dict[str, Any]:
    """Check and apply one status report; the answer's JSON (raises the domain's errors:
    401, 404, 422). Shared by the route and ``producer/http/fastpath.py``."""
    secret: str | None = state.dialer_secret
    if not secret:
        raise Unauthorized("status callbacks need BATCHDIAL_DIALER_SECRET set on the API")
    clock: Clock = state.clock
    problem = verify(secret, dial_id, body, signature, clock.time())
    if problem:
        raise Unauthorized(problem)
    report = parse_body(StatusIn, body)
    if report.status not in REPORTABLE_STATUSES:
        allowed = ", ".join(sorted(REPORTABLE_STATUSES))
        raise InvalidInput.one("status", f"must be one of {allowed}")
    ends: DialEnds = state.dial_ends
    outbox: BrokerOutbox | None = state.dial_outbox
    # One hop to a thread for the whole of it: an end's refill waits on every hop.
    live = report.status in LIVE_STATUSES
    details = bound_details(report.model_extra or {}) or None
    found, changed = await in_thread(
        _apply, ends, outbox, dial_id, report.status, details, live=live
    )
    if not found:
        raise NotFound(f"no dial {dial_id}")
    return {"dialId": dial_id, "status": report.status, "changed": changed}


def _apply(
    ends: DialEnds,
    outbox: BrokerOutbox | None,
    dial_id: str,
    status: str,
    details: dict[str, Any] | None,
    *,
    live: bool,
) -> tuple[bool, bool]:
    """Find the dial and apply the report; returns (found, changed). An end looks up only
    the dial's job (``finish`` says whether the dial exists): one round trip fewer, or
    two for a job seen before, on the path of every refill."""
    if live:
        ref = ends.locate(dial_id)
        if ref is None:
            return False, False
        return True, ends.set_live_status(ref, status)
    ref = ends.locate_job(dial_id)
    if ref is None:
        return False, False
    outcome = end_and_refill(ends, outbox, ref, status, details).outcome
    return outcome != "missing", outcome == "finished"
