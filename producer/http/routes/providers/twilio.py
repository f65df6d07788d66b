"""Twilio's status callbacks: ``POST /api/providers/twilio/status`` (SPEC §8.1).

Twilio POSTs a form (``CallSid``, ``CallStatus``, ``AnsweredBy``, ``CallDuration``, …)
to the ``StatusCallback`` URL the twilio dialer gave (worker/dialers/twilio.py), which
names our dial in its query (``?dialId=``). Each request is verified by
``X-Twilio-Signature``: base64(HMAC-SHA1(auth token, the URL Twilio called + every
POST parameter's name and value, sorted by name)), as twilio.com/docs/usage/webhooks/
webhooks-security describes. The URL is ``BATCHDIAL_PUBLIC_URL`` + this route's path +
the query string exactly as Twilio sent it (a proxy in front may rewrite the host and
path, so the request's own URL is not used). A request that fails verification is
refused (401) and changes nothing.

:data:`STATUS_TABLE` maps Twilio's values onto SPEC §4.7's dial statuses. Callbacks
come at least once and in any order: a live status only moves a dial forward
(``dial_status.lua``), and an end is recorded once (``finish_dial.lua``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from config.broker import BrokerOutbox
from domain.dials import DialEnds
from domain.errors import NotFound, Unauthorized
from producer.dialreports import apply_status, locate
from producer.http.hop import in_thread
from producer.http.openapi import errors, required_body, required_header
from producer.http.routes.providers import CarrierAuth
from producer.schemas.responses import DialStatusChange

router = APIRouter(tags=["provider"])

CARRIER = "twilio"
PATH = "/api/providers/twilio/status"
SIGNATURE_HEADER = "X-Twilio-Signature"

#: Twilio's values -> SPEC §4.7 dial statuses: the one table of this carrier.
#:
#: ``CallStatus`` (Call resource, "Call Status values"): ``queued``/``initiated`` (Twilio
#: has the call and starts dialing), ``ringing``, ``in-progress`` (answered) are live:
#: each becomes ``dial.status_changed`` when it moves the dial forward. ``completed``,
#: ``busy``, ``no-answer``, ``failed``, ``canceled`` end the dial.
#: ``AnsweredBy`` (answering machine detection, present when the job's ``voicemail``
#: turned it on): a machine or a fax turns a ``completed`` end into ``voicemail``;
#: ``human`` and ``unknown`` leave it as it is.
STATUS_TABLE: dict[tuple[str, str], str] = {
    ("CallStatus", "queued"): "queued",
    ("CallStatus", "initiated"): "queued",
    ("CallStatus", "ringing"): "ringing",
    ("CallStatus", "in-progress"): "in-progress",
    ("CallStatus", "completed"): "completed",
    ("CallStatus", "busy"): "busy",
    ("CallStatus", "no-answer"): "no-answer",
    ("CallStatus", "failed"): "failed",
    ("CallStatus", "canceled"): "canceled",
    ("AnsweredBy", "machine_start"): "voicemail",
    ("AnsweredBy", "machine_end_beep"): "voicemail",
    ("AnsweredBy", "machine_end_silence"): "voicemail",
    ("AnsweredBy", "machine_end_other"): "voicemail",
    ("AnsweredBy", "fax"): "voicemail",
}
#: The callback parameters kept in the dial.finished event's details (no others: the
#: event log must not grow with whatever a request carries), each cut to
#: :data:`DETAIL_CHARS`.
DETAIL_FIELDS = (
    "CallSid",
    "CallStatus",
    "CallDuration",
    "AnsweredBy",
    "SipResponseCode",
    "ErrorCode",
    "ErrorMessage",
    "SequenceNumber",
    "Timestamp",
)
DETAIL_CHARS = 200


def dial_status_of(form: dict[str, str]) -> str | None:
    """The dial status a callback reports (:data:`STATUS_TABLE`), None if unknown."""
    status = STATUS_TABLE.get(("CallStatus", form.get("CallStatus", "")))
    if status == "completed":
        return STATUS_TABLE.get(("AnsweredBy", form.get("AnsweredBy", "")), status)
    return status


def details_of(form: dict[str, str]) -> dict[str, str]:
    """The allowed callback parameters (:data:`DETAIL_FIELDS`), bounded."""
    return {name: form[name][:DETAIL_CHARS] for name in DETAIL_FIELDS if form.get(name)}


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` of a form POST to ``url``: base64 HMAC-SHA1, keyed by the
    auth token, of the URL followed by each parameter's name and value, sorted by name
    (a name given twice: its values in order of value; a repeated pair counts once)."""
    data = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """``url`` as given, and with its scheme's default port added or removed: Twilio
    may sign either form (its own validator accepts both)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or not host:
        return [url]
    if parts.port is None:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
    else:
        return [url]
    return [url, urlunsplit(other)]


def verify(auth_token: str, url: str, params: Sequence[tuple[str, str]], given: str | None) -> bool:
    """Whether ``given`` is Twilio's signature of this request (constant time)."""
    if not given:
        return False
    ok = False
    for candidate in _port_variants(url):
        ok |= hmac.compare_digest(signature(auth_token, candidate, params), given)
    return ok


@router.post(
    PATH,
    response_model=DialStatusChange,
    responses=errors(401, 404, 413),
    openapi_extra={
        "parameters": [
            required_header(
                SIGNATURE_HEADER, "base64 HMAC-SHA1 (auth token) of the URL + sorted parameters"
            ),
            {"name": "dialId", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": required_body(
            "application/x-www-form-urlencoded",
            {"type": "object", "additionalProperties": {"type": "string"}},
        ),
    },
)
async def twilio_status(request: Request) -> JSONResponse:
    """Twilio reports a call's progress or end; verified by ``X-Twilio-Signature``."""
    auth: CarrierAuth = request.app.state.carriers
    if not auth.twilio_auth_token or not auth.public_url:
        raise Unauthorized(
            "Twilio callbacks need BATCHDIAL_TWILIO_AUTH_TOKEN and BATCHDIAL_PUBLIC_URL "
            "set on the API"
        )
    body = await request.body()
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = auth.public_url + PATH + (f"?{query}" if query else "")
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        params = []
    if not verify(auth.twilio_auth_token, url, params, request.headers.get(SIGNATURE_HEADER)):
        raise Unauthorized(
            f"{SIGNATURE_HEADER} does not match this request (signed over "
            "BATCHDIAL_PUBLIC_URL + path + query and the form, with the auth token)"
        )
    form = dict(params)
    dial_id = (parse_qs(query).get("dialId") or [""])[0]
    status = dial_status_of(form)
    if status is None:  # a status we do not know: acknowledged, nothing changes
        unknown = {"dialId": dial_id, "status": form.get("CallStatus", ""), "changed": False}
        return JSONResponse(unknown)
    ends: DialEnds = request.app.state.dial_ends
    outbox: BrokerOutbox | None = request.app.state.dial_outbox
    found, changed = await in_thread(
        _apply,
        ends,
        outbox,
        dial_id,
        form.get("CallSid", ""),
        status=status,
        details=details_of(form),
    )
    if found is None:
        raise NotFound(f"no dial {dial_id or form.get('CallSid', '')}")
    return JSONResponse({"dialId": found, "status": status, "changed": changed})


def _apply(
    ends: DialEnds,
    outbox: BrokerOutbox | None,
    dial_id: str,
    call_sid: str,
    *,
    status: str,
    details: dict[str, Any],
) -> tuple[str | None, bool]:
    """Find the dial (by our id, else by the CallSid) and apply the status; returns
    (the dial id or None, changed)."""
    ref = locate(ends, CARRIER, dial_id, call_sid)
    if ref is None:
        return None, False
    return ref.dial_id, apply_status(ends, outbox, ref, status, details)
