"""Provider status callbacks: ``POST /api/dials/{dial_id}/status`` (SPEC §6).

Authenticated by an HMAC-SHA256 signature of the body (``domain/signing.py``) with
the shared ``BATCHDIAL_DIALER_SECRET``, not by a workspace API key: the provider,
not the workspace, calls it. A signature outside the time tolerance is refused, so a
captured callback cannot be replayed.

A final status frees the dial's slot; the same step releases the job's next rows into
it, and their dial messages go on the workers' broker at once (when the app has it),
so that the slot is refilled in milliseconds rather than at the scheduler's next run.
"""

from __future__ import annotations

from typing import Any

import redis
import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError
from starlette.concurrency import run_in_threadpool

from config.broker import BrokerOutbox
from domain.dials import LIVE_STATUSES, TERMINAL_STATUSES, DialEnds, DialRef, FinishResult
from domain.errors import InvalidInput, NotFound, Problem, Unauthorized
from domain.jsonbody import parse_json_object
from domain.signing import SIGNATURE_HEADER, verify
from producer.validation import problems_of

router = APIRouter()
log = structlog.get_logger(__name__)


class StatusIn(BaseModel):
    """A provider's report; fields beyond ``status`` are kept as details of the event."""

    model_config = ConfigDict(extra="allow")

    status: StrictStr


@router.post(
    "/api/dials/{dial_id}/status",
    tags=["provider"],
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
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": StatusIn.model_json_schema()}},
        },
    },
)
async def dial_status(dial_id: str, request: Request) -> dict[str, Any]:
    """A provider reports a dial's status; a final status ends the dial (idempotent)."""
    body = await request.body()
    secret: str | None = request.app.state.dialer_secret
    if not secret:
        raise Unauthorized("status callbacks need BATCHDIAL_DIALER_SECRET set on the API")
    problem = verify(secret, dial_id, body, request.headers.get(SIGNATURE_HEADER))
    if problem:
        raise Unauthorized(problem)
    try:
        report = StatusIn.model_validate(parse_json_object(body))
    except ValidationError as exc:
        raise InvalidInput(problems_of(exc)) from None
    allowed = TERMINAL_STATUSES | LIVE_STATUSES
    if report.status not in allowed:
        raise InvalidInput([Problem("status", f"must be one of {', '.join(sorted(allowed))}")])
    ends: DialEnds = request.app.state.dial_ends
    outbox: BrokerOutbox | None = request.app.state.dial_outbox
    # One hop to a thread for the whole of it: an end's refill waits on every hop.
    live = report.status in LIVE_STATUSES
    found, changed = await run_in_threadpool(
        _apply, ends, outbox, dial_id, report.status, report.model_extra or None, live=live
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
    """Find the dial and apply the report; returns (found, changed)."""
    ref = ends.locate(dial_id)
    if ref is None:
        return False, False
    if live:
        return True, ends.set_live_status(ref, status)
    return True, _end(ends, outbox, ref, status, details).outcome == "finished"


def _end(
    ends: DialEnds,
    outbox: BrokerOutbox | None,
    ref: DialRef,
    status: str,
    details: dict[str, Any] | None,
) -> FinishResult:
    """End the dial; send the dial messages of the rows released into its slot."""
    result = ends.finish(ref, status, details=details, release=outbox is not None)
    if outbox is None:
        return result
    try:
        for index in result.released:
            outbox.send_dial(ref.ws_id, ref.job_id, index)
    except redis.RedisError as exc:  # the end is recorded; a released row is taken back
        # by the job's scheduler after Timing.stale_release_ms and released again
        log.warning("refill_not_sent", dial_id=ref.dial_id, error=type(exc).__name__)
    return result
