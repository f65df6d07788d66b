"""Telnyx's call webhooks: ``POST /api/providers/telnyx/events`` (SPEC §8.1).

Telnyx POSTs JSON ``{"data": {"event_type", "id", "occurred_at", "payload": {...}}}``
for each event of a call to the ``webhook_url`` the telnyx dialer gave
(worker/dialers/telnyx.py). Each request is verified by ``telnyx-signature-ed25519``
over ``"{telnyx-timestamp}|{raw body}"`` with ``BATCHDIAL_TELNYX_PUBLIC_KEY``, and its
timestamp must be within 300 s of the API's clock (:mod:`domain.telnyx`); one that
fails is refused (401) and changes nothing. The signature covers the body only, not
the URL, so ``BATCHDIAL_PUBLIC_URL`` plays no part in it (it is where the dialer tells
Telnyx to send them).

The dial is the one the payload's ``client_state`` names (our dial id, which must be a
dial of this API's namespace), else the one keyed by its ``call_control_id``.
:data:`STATUS_TABLE` maps the events onto SPEC §4.7's dial statuses. Telnyx delivers
webhooks at least once and in no set order ("Receiving Webhooks"): a live status only
moves a dial forward (``dial_status.lua``) and an end is recorded once
(``finish_dial.lua``), so a replayed webhook changes nothing.

Answering machines: ``call.machine.detection.ended`` comes before the call ends. Its
verdict is remembered on the live dial (``domain/verdicts.py``) and applied when
``call.hangup`` comes: a ``machine`` turns an answered end (``completed``) into
``voicemail``, as Twilio's ``AnsweredBy`` does, and the dial keeps its slot while the
call lasts. The verdict reaches batchdial only (the agent gets no webhook), so when the
job's ``voicemail.action`` is ``hangup`` or ``retry`` the API hangs the call up
(producer/telnyx_commands.py), where with Twilio the agent's TwiML, told ``AnsweredBy``,
would; with ``leave_message`` the call stays the agent's.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from config.broker import BrokerOutbox
from domain.dials import DialEnds
from domain.errors import MalformedBody, NotFound, Unauthorized
from domain.provider_details import DETAIL_FIELDS as DETAIL_ALLOWLIST
from domain.provider_details import bound_details
from domain.signing import Clock
from domain.telnyx import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    decode_client_state,
    load_public_key,
    verify,
)
from domain.verdicts import MachineVerdicts
from producer.dialreports import end_and_refill, locate
from producer.http.hop import in_thread
from producer.http.openapi import errors, required_body, required_header
from producer.http.routes.providers import CarrierAuth
from producer.schemas.responses import DialStatusChange
from producer.service import Producer
from producer.telnyx_commands import HANG_UP_ON_MACHINE, TelnyxCommands

router = APIRouter(tags=["provider"])

CARRIER = "telnyx"
PATH = "/api/providers/telnyx/events"

#: Telnyx's values -> SPEC §4.7 dial statuses: the one table of this carrier.
#:
#: ``event_type`` (Call Control webhooks): ``call.initiated`` (Telnyx has the call and
#: dials; it reports no ringing) and ``call.answered`` are live: each becomes
#: ``dial.status_changed`` when it moves the dial forward.
#: ``hangup_cause`` of ``call.hangup`` (the ``CallHangup`` webhook schema of the API
#: reference lists exactly these nine) ends the dial: ``normal_clearing`` (answered,
#: then hung up) and ``time_limit`` (answered, then ``time_limit_secs`` reached) are
#: ``completed``; ``user_busy`` is ``busy``, and so is ``call_rejected`` (the callee
#: declined: someone is there but did not take the call; a retry on ``busy`` fits it);
#: ``timeout`` (``timeout_secs`` reached while ringing) and ``no_answer`` (the same with
#: ``retry_on_timeout`` false) are ``no-answer``; ``originator_cancel`` (we or the
#: agent ended it before the answer) is ``canceled``; ``not_found`` (no such number or
#: route) and ``unspecified`` are ``failed``. A cause outside the list (a newer one, or
#: a Q.850 name such as ``unallocated_number``) is :data:`OTHER_HANGUP`: the call did end.
#: ``result`` of ``call.machine.detection.ended``: ``machine`` turns a ``completed`` end
#: into ``voicemail``; ``human`` and ``not_sure`` leave it as it is.
STATUS_TABLE: dict[tuple[str, str], str] = {
    ("event_type", "call.initiated"): "queued",
    ("event_type", "call.answered"): "in-progress",
    ("hangup_cause", "normal_clearing"): "completed",
    ("hangup_cause", "time_limit"): "completed",
    ("hangup_cause", "user_busy"): "busy",
    ("hangup_cause", "call_rejected"): "busy",
    ("hangup_cause", "timeout"): "no-answer",
    ("hangup_cause", "no_answer"): "no-answer",
    ("hangup_cause", "originator_cancel"): "canceled",
    ("hangup_cause", "not_found"): "failed",
    ("hangup_cause", "unspecified"): "failed",
    ("result", "machine"): "voicemail",
}
#: The end of a ``call.hangup`` whose cause is not in :data:`STATUS_TABLE`.
OTHER_HANGUP = "failed"
HANGUP = "call.hangup"
MACHINE_DETECTION = "call.machine.detection.ended"
#: The payload fields kept in the dial.finished event's details (``provider``), with
#: the remembered verdict as ``answeredBy`` and the event's ``id``/``occurred_at``
#: (the allowlist and its bounds: domain/provider_details.py).
DETAIL_FIELDS = DETAIL_ALLOWLIST[CARRIER]


def dial_status_of(
    event_type: str, payload: dict[str, Any], verdict: str | None = None
) -> str | None:
    """The dial status an event reports (:data:`STATUS_TABLE`), None if none: live for
    initiated/answered, the end for a hangup (``verdict``: the machine verdict
    remembered for the call)."""
    if event_type != HANGUP:
        return STATUS_TABLE.get(("event_type", event_type))
    cause = payload.get("hangup_cause")
    status = STATUS_TABLE.get(("hangup_cause", cause if isinstance(cause, str) else ""))
    status = status or OTHER_HANGUP
    if status == "completed" and verdict:
        return STATUS_TABLE.get(("result", verdict), status)
    return status


def details_of(event: dict[str, Any], verdict: str | None) -> dict[str, Any]:
    """What the dial.finished event keeps of a hangup: :data:`DETAIL_FIELDS`, bounded."""
    payload = event.get("payload") or {}
    report = {name: payload[name] for name in DETAIL_FIELDS if payload.get(name) is not None}
    if verdict:
        report["answeredBy"] = verdict
    for name, key in (("eventId", "id"), ("occurredAt", "occurred_at")):
        if event.get(key) is not None:
            report[name] = event[key]
    return dict(bound_details(report, carrier=CARRIER))


@router.post(
    PATH,
    response_model=DialStatusChange,
    responses=errors(400, 401, 404, 413),
    openapi_extra={
        "parameters": [
            required_header(
                SIGNATURE_HEADER, "base64 Ed25519 signature of '<telnyx-timestamp>|<body>'"
            ),
            required_header(
                TIMESTAMP_HEADER, "unix seconds; refused beyond 300 s from the API's clock"
            ),
        ],
        "requestBody": required_body("application/json", {"type": "object"}),
    },
)
async def telnyx_events(request: Request) -> JSONResponse:
    """Telnyx reports a call's progress or end; verified by ``telnyx-signature-ed25519``."""
    auth: CarrierAuth = request.app.state.carriers
    if not auth.telnyx_public_key:
        raise Unauthorized("Telnyx webhooks need BATCHDIAL_TELNYX_PUBLIC_KEY set on the API")
    body = await request.body()
    clock: Clock = request.app.state.clock
    problem = verify(
        load_public_key(auth.telnyx_public_key),
        body,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        clock.time(),
    )
    if problem:
        raise Unauthorized(problem)
    event = _event_of(body)
    payload: dict[str, Any] = event["payload"]
    dial_id = decode_client_state(payload.get("client_state")).get("dialId", "")
    call_id = payload.get("call_control_id")
    call_id = call_id if isinstance(call_id, str) else ""
    producer: Producer = request.app.state.producer
    found, status, changed, hang_up = await in_thread(
        _apply,
        request.app.state.dial_ends,
        MachineVerdicts(producer.redis, producer.keys),
        request.app.state.dial_outbox,
        dial_id,
        call_id,
        event=event,
    )
    if found is None:
        raise NotFound(f"no dial {dial_id or call_id} (not a call of this batchdial)")
    if hang_up and call_id and auth.telnyx_api_key:
        commands = TelnyxCommands(auth.telnyx_api_key, auth.telnyx_api_base)
        await commands.hangup(call_id, command_id=f"{found}.machine-hangup")
    return JSONResponse({"dialId": found, "status": status, "changed": changed})


def _event_of(body: bytes) -> dict[str, Any]:
    """The ``data`` object of a webhook body (its ``payload`` an object)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedBody("the body is not JSON") from None
    event = data.get("data") if isinstance(data, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("payload", {}), dict):
        raise MalformedBody('expected {"data": {"event_type", "payload": {...}}}')
    event.setdefault("payload", {})
    return event


def _apply(
    ends: DialEnds,
    verdicts: MachineVerdicts,
    outbox: BrokerOutbox | None,
    dial_id: str,
    call_id: str,
    *,
    event: dict[str, Any],
) -> tuple[str | None, str, bool, bool]:
    """Find the dial and apply the event; returns (the dial id or None, the status it
    reported, changed, whether to hang the call up: a machine answered a job whose
    ``voicemail.action`` says so)."""
    # By the dial id of its client_state, else by its call.
    ref = locate(ends, CARRIER, dial_id, call_id)
    if ref is None:
        return None, "", False, False
    event_type = str(event.get("event_type", ""))
    payload: dict[str, Any] = event["payload"]
    if event_type == MACHINE_DETECTION:
        result = payload.get("result")
        if not isinstance(result, str) or not result:
            return ref.dial_id, "", False, False
        changed = verdicts.remember(ref, result[:32])
        machine = STATUS_TABLE.get(("result", result)) == "voicemail"
        hang_up = changed and machine and verdicts.voicemail_action(ref) in HANG_UP_ON_MACHINE
        return ref.dial_id, result, changed, hang_up
    if event_type != HANGUP:
        status = dial_status_of(event_type, payload)
        if status is None:  # an event we do not map: acknowledged, nothing changes
            return ref.dial_id, event_type, False, False
        return ref.dial_id, status, ends.set_live_status(ref, status, carrier=True), False
    verdict = verdicts.recall(ref)
    status = dial_status_of(event_type, payload, verdict) or OTHER_HANGUP
    result = end_and_refill(ends, outbox, ref, status, details_of(event, verdict))
    return ref.dial_id, status, result.outcome == "finished", False
