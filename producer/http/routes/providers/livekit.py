"""LiveKit's webhooks: ``POST /api/providers/livekit/webhook`` (SPEC §8.1).

LiveKit POSTs a ``WebhookEvent`` as JSON (``Content-Type: application/webhook+json``)
for every room of the project to the URL of its ``webhook.urls`` setting (LiveKit
Cloud: the project's webhook settings). Each request carries its signature in the
``Authorization`` header: a JWT signed HS256 with the API secret, the API key as
issuer, valid for 5 minutes, whose ``sha256`` claim is the base64 SHA-256 of the body
(docs.livekit.io, "Webhooks"; domain/livekit_tokens.py checks it). A request that
fails verification is refused (401) and changes nothing. The public URL is not part
of LiveKit's signature, so a proxy in front changes nothing here.

What it changes (the table is domain/livekit_calls.py's ``STATUS_TABLE``):

* only events of a dial's room (``batchdial-<dialId>``) whose dial exists and, for
  ``participant_*``, of its callee (a SIP participant with identity ``callee-<dialId>``):
  the agent joining and leaving, other rooms of the project, and the rooms of dials put
  back after a rate limit (whose records are gone) are acknowledged and change nothing;
* ``participant_joined``: the callee's ``sip.callStatus`` as ``dial.status_changed``
  (``dialing`` -> ``queued``, ``ringing``, ``active`` -> ``in-progress``), only forward;
* ``participant_left`` (by its ``disconnect_reason``), ``participant_connection_aborted``
  and ``room_finished``: the dial's end, recorded once. While the worker is still
  placing the call (``CreateSIPParticipant`` waits for the answer, which carries the
  exact SIP status), an end is answered 503 with ``Retry-After``: LiveKit's notifier
  sends it again (it retries 5xx answers), and by then the worker's answer has ended
  the dial (the retry changes nothing) or handed the call over (the retry ends it).

Webhooks come at least once and in any order: a live status only moves a dial
forward, and an end is recorded once, so a replayed request changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from config.broker import BrokerOutbox
from domain.dials import LIVE_STATUSES, DialEnds
from domain.errors import MalformedBody, Unauthorized
from domain.livekit_calls import (
    CALL_STATUS_ATTRIBUTE,
    STATUS_TABLE,
    dial_id_of_room,
    disconnect_reason_name,
    end_status_of,
    live_status_of,
    participant_identity,
)
from domain.livekit_tokens import verify_webhook
from producer.dialreports import apply_status
from producer.http.errors import error_response
from producer.http.hop import in_thread
from producer.http.openapi import errors, required_body, required_header
from producer.http.routes.providers import CarrierAuth
from producer.schemas.responses import DialStatusChange

router = APIRouter(tags=["provider"])

PATH = "/api/providers/livekit/webhook"
#: How long LiveKit is asked to wait before sending again an end that came while the
#: worker was still placing the call (seconds).
RETRY_AFTER_S = 1
#: The most characters kept of one detail.
DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class Report:
    """What one webhook tells about a dial: ``status`` None means nothing."""

    dial_id: str = ""
    status: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _is_sip(participant: dict[str, Any]) -> bool:
    return participant.get("kind") in ("SIP", 3)


def report_of(event: dict[str, Any]) -> Report:
    """The dial and status a webhook reports (:data:`STATUS_TABLE`)."""
    kind = str(event.get("event", ""))
    room = event.get("room")
    name = room.get("name") if isinstance(room, dict) else None
    dial_id = dial_id_of_room(name) if isinstance(name, str) else None
    if dial_id is None:
        return Report()  # not a dial's room: another app's, in the same LiveKit project
    details: dict[str, Any] = {"event": kind}
    if isinstance(event.get("id"), str):
        details["eventId"] = event["id"][:DETAIL_CHARS]
    if kind == "room_finished":
        return Report(dial_id, STATUS_TABLE[("event", kind)], details)
    participant = event.get("participant")
    if not kind.startswith("participant_") or not isinstance(participant, dict):
        return Report(dial_id)
    return _callee_report(kind, dial_id, participant, details)


def _callee_report(
    kind: str, dial_id: str, participant: dict[str, Any], details: dict[str, Any]
) -> Report:
    """What a ``participant_*`` event of the dial's callee reports (others: nothing)."""
    if not _is_sip(participant) or participant.get("identity") != participant_identity(dial_id):
        return Report(dial_id)  # the agent, or anyone else in the room
    if isinstance(participant.get("sid"), str):
        details["participantSid"] = participant["sid"][:DETAIL_CHARS]
    attributes = participant.get("attributes")
    call_status = attributes.get(CALL_STATUS_ATTRIBUTE) if isinstance(attributes, dict) else None
    if isinstance(call_status, str):
        details["callStatus"] = call_status[:DETAIL_CHARS]
    status: str | None = None
    if kind == "participant_joined":
        status = live_status_of(call_status or "")
    elif kind == "participant_left":
        reason = disconnect_reason_name(
            participant.get("disconnectReason", participant.get("disconnect_reason"))
        )
        details["disconnectReason"] = reason[:DETAIL_CHARS]
        status = end_status_of(reason)
    elif kind == "participant_connection_aborted":
        status = STATUS_TABLE[("event", kind)]
    return Report(dial_id, status, details)


@router.post(
    PATH,
    response_model=DialStatusChange,
    responses=errors(400, 401, 413),
    openapi_extra={
        "parameters": [
            required_header(
                "Authorization",
                "LiveKit's webhook token: a JWT (HS256, the API secret) "
                "whose sha256 claim is the base64 SHA-256 of the body",
            )
        ],
        "requestBody": required_body("application/webhook+json", {"type": "object"}),
    },
)
async def livekit_webhook(request: Request) -> JSONResponse:
    """LiveKit reports a room's or participant's event; verified by its webhook token."""
    auth: CarrierAuth = request.app.state.carriers
    if not auth.livekit_api_key or not auth.livekit_api_secret:
        raise Unauthorized(
            "LiveKit webhooks need BATCHDIAL_LIVEKIT_API_KEY and BATCHDIAL_LIVEKIT_API_SECRET "
            "set on the API"
        )
    body = await request.body()
    verify_webhook(
        request.headers.get("Authorization"),
        body,
        api_key=auth.livekit_api_key,
        api_secret=auth.livekit_api_secret,
        now=request.app.state.clock.time(),
    )
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        event = None
    if not isinstance(event, dict):
        raise MalformedBody("a LiveKit webhook is a JSON object (a WebhookEvent)")
    report = report_of(event)
    if report.status is None:  # nothing of ours changes: acknowledged
        return JSONResponse({"dialId": report.dial_id, "status": "", "changed": False})
    ends: DialEnds = request.app.state.dial_ends
    outbox: BrokerOutbox | None = request.app.state.dial_outbox
    found, changed = await in_thread(_apply, ends, outbox, report)
    if found is None:
        # A dial room whose dial is gone: one put back after a rate limit (its record is
        # dropped, its room deleted, and LiveKit reports the room's end), or one long
        # expired. LiveKit signed it, so it is acknowledged; nothing changes.
        return JSONResponse({"dialId": report.dial_id, "status": "", "changed": False})
    if not found:
        return error_response(
            503,
            "still_placing",
            f"dial {report.dial_id} is still being placed; send its end again",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return JSONResponse({"dialId": report.dial_id, "status": report.status, "changed": changed})


def _apply(ends: DialEnds, outbox: BrokerOutbox | None, report: Report) -> tuple[bool | None, bool]:
    """Apply ``report``; returns (None: no such dial | False: still being placed, so its
    end must wait | True, changed)."""
    ref = ends.locate(report.dial_id)
    if ref is None or report.status is None:
        return None, False
    if report.status not in LIVE_STATUSES and ends.placing(ref):
        return False, False
    return True, apply_status(ends, outbox, ref, report.status, report.details)
