"""LiveKit SIP calls as batchdial sees them: the names a dial gives its room and its
callee, and the one table from everything LiveKit reports about a call to SPEC §4.7's
dial statuses. Shared by the livekit dialer (worker/dialers/livekit.py), which learns a
call's outcome from ``CreateSIPParticipant``, and the webhook route
(producer/http/routes/providers/livekit.py), which learns its progress and end.

Sources (checked against the public protocol, github.com/livekit/protocol, and the SIP
service, github.com/livekit/sip):

* ``CreateSIPParticipant`` with ``wait_until_answered`` answers once the callee picked
  up, or fails with a Twirp error. A failure caused by the callee's SIP final response
  carries it in the error's ``meta``: ``sip_status_code`` ("486") and ``sip_status``
  ("Busy Here") (``livekit.SIPStatus.TwirpErrorMeta``). The Twirp *code* of such an
  error comes from the SIP code (``sipCodeToGRPCCode`` in livekit/sip.go): 486, 480 and
  600 are ``resource_exhausted`` (HTTP 429), which is also the code of a rate limit, so
  the SIP code is read first. LiveKit's own ring timeout has no SIP code: ``canceled``,
  "sip request timed out" (livekit/sip pkg/sip/protocol.go).
* Webhooks: the SIP participant joins the room (``participant_joined``) before the
  INVITE is sent, with the attribute ``sip.callStatus`` = ``dialing``; it leaves
  (``participant_left``) with a ``disconnect_reason`` (enum ``DisconnectReason`` of
  livekit_models.proto); ``room_finished`` when the room closes.
"""

from __future__ import annotations

from collections.abc import Mapping

CARRIER = "livekit"
#: A dial's room is this prefix + the dial id: the room names the dial, and a webhook
#: about any other room of the LiveKit project (another app's) is not ours.
ROOM_PREFIX = "batchdial-"
#: The callee's participant identity is this prefix + the dial id.
IDENTITY_PREFIX = "callee-"
#: The participant attribute that holds a SIP call's state (livekit/attrs.go).
CALL_STATUS_ATTRIBUTE = "sip.callStatus"
#: Not a dial status: no call was made (a rate limit); the row goes back to its job.
PUT_BACK = "put-back"

#: Everything LiveKit reports about a call -> SPEC §4.7 dial status (or :data:`PUT_BACK`):
#: the one table of this carrier. Keys are (source, value):
#:
#: ``sip``: the callee's SIP final response, from a ``CreateSIPParticipant`` error's
#: ``meta.sip_status_code``. A code not listed falls back to its class
#: (:data:`SIP_CLASS_STATUS`). 603 Decline is ``busy``, not ``failed``: the person (or
#: their phone) turned the call down, as with 486; LiveKit itself files both under
#: ``USER_REJECTED`` ("the SIP callee rejected the call (busy)"), so both ways of
#: learning the end agree, and a retry policy that retries busy retries it. 404/484/604
#: are numbers that cannot be reached: ``failed``.
#:
#: ``error``: a ``CreateSIPParticipant`` error without a SIP code: ``ring_timeout`` is
#: LiveKit's own ringing timeout (``canceled``, "sip request timed out");
#: ``rate_limited`` is ``resource_exhausted`` / HTTP 429 without a SIP code.
#:
#: ``answer``: ``CreateSIPParticipant`` answered 200: the callee picked up.
#:
#: ``sip.callStatus``: the SIP participant's attribute in ``participant_joined``
#: (``dialing`` at join, LiveKit's participant.go: ``ringing``, ``automation`` (sending
#: DTMF after the answer), ``active``); ``hangup`` is followed by ``participant_left``.
#:
#: ``disconnect_reason``: ``participant_left`` of the SIP participant (the proto's
#: comments: USER_UNAVAILABLE "SIP callee did not respond in time", USER_REJECTED "SIP
#: callee rejected the call (busy)", SIP_TRUNK_FAILURE "SIP protocol failure or
#: unexpected response"). A call that was answered and then ended normally (either side
#: hung up, the room was deleted or closed, the participant removed) is ``completed``;
#: one cut by a failure is ``failed``. ``MIGRATION`` (LiveKit Cloud moving a
#: participant) ends nothing and is not listed.
#:
#: ``event``: ``room_finished`` (the room closed: whatever was still open is over) and
#: ``participant_connection_aborted``.
STATUS_TABLE: Mapping[tuple[str, str], str] = {
    ("sip", "486"): "busy",  # Busy Here
    ("sip", "600"): "busy",  # Busy Everywhere
    ("sip", "603"): "busy",  # Decline
    ("sip", "408"): "no-answer",  # Request Timeout
    ("sip", "480"): "no-answer",  # Temporarily Unavailable
    ("sip", "487"): "no-answer",  # Request Terminated (the ringing was cancelled)
    ("sip", "404"): "failed",  # Not Found
    ("sip", "410"): "failed",  # Gone
    ("sip", "484"): "failed",  # Address Incomplete
    ("sip", "604"): "failed",  # Does Not Exist Anywhere
    ("error", "ring_timeout"): "no-answer",
    ("error", "rate_limited"): PUT_BACK,
    ("answer", "CreateSIPParticipant"): "in-progress",
    ("sip.callStatus", "dialing"): "queued",
    ("sip.callStatus", "ringing"): "ringing",
    ("sip.callStatus", "automation"): "in-progress",
    ("sip.callStatus", "active"): "in-progress",
    ("disconnect_reason", "USER_UNAVAILABLE"): "no-answer",
    ("disconnect_reason", "USER_REJECTED"): "busy",
    ("disconnect_reason", "SIP_TRUNK_FAILURE"): "failed",
    ("disconnect_reason", "MEDIA_FAILURE"): "failed",
    ("disconnect_reason", "CONNECTION_TIMEOUT"): "failed",
    ("disconnect_reason", "JOIN_FAILURE"): "failed",
    ("disconnect_reason", "SIGNAL_CLOSE"): "failed",
    ("disconnect_reason", "STATE_MISMATCH"): "failed",
    ("disconnect_reason", "SERVER_SHUTDOWN"): "failed",
    ("disconnect_reason", "DUPLICATE_IDENTITY"): "failed",
    ("disconnect_reason", "AGENT_ERROR"): "failed",
    ("disconnect_reason", "CLIENT_INITIATED"): "completed",
    ("disconnect_reason", "PARTICIPANT_REMOVED"): "completed",
    ("disconnect_reason", "ROOM_DELETED"): "completed",
    ("disconnect_reason", "ROOM_CLOSED"): "completed",
    ("disconnect_reason", "UNKNOWN_REASON"): "completed",
    ("event", "room_finished"): "completed",
    ("event", "participant_connection_aborted"): "failed",
}
#: A SIP code not in the table, by its class (3xx, 4xx, 5xx, 6xx). 6xx are global
#: refusals of the callee (LiveKit: USER_REJECTED); other classes are failures.
SIP_CLASS_STATUS: Mapping[int, str] = {3: "failed", 4: "failed", 5: "failed", 6: "busy"}
#: A 5xx whose reason says the trunk's own calls-per-second or concurrency limit was hit
#: (LiveKit's classifier recognises these phrases from Twilio, pkg/sip/errors.go): the
#: callee was never rung, so the row goes back rather than failing.
TRUNK_LIMIT_PHRASES = ("cps limit exceeded", "concurrent call limit exceeded")
#: ``DisconnectReason`` by number, for a webhook that sends the enum as a number.
DISCONNECT_REASONS = (
    "UNKNOWN_REASON",
    "CLIENT_INITIATED",
    "DUPLICATE_IDENTITY",
    "SERVER_SHUTDOWN",
    "PARTICIPANT_REMOVED",
    "ROOM_DELETED",
    "STATE_MISMATCH",
    "JOIN_FAILURE",
    "MIGRATION",
    "SIGNAL_CLOSE",
    "ROOM_CLOSED",
    "USER_UNAVAILABLE",
    "USER_REJECTED",
    "SIP_TRUNK_FAILURE",
    "CONNECTION_TIMEOUT",
    "MEDIA_FAILURE",
    "AGENT_ERROR",
)

#: What a ``CreateSIPParticipant`` error without a SIP code tells about the INVITE:
#: ``CHECK``: LiveKit failed before sending it (its SIP service turns any failure after
#: the INVITE into ``failed_precondition``, "so a fallback-capable SDK won't re-dial and
#: place a duplicate call", livekit/sip pkg/sip/errors.go), so it may be sent again once
#: the room shows no callee; ``UNKNOWN``: it may have gone out (a deadline, or a 5xx
#: from something in front of LiveKit): look, and never send it again blindly.
CHECK = "check"
UNKNOWN = "unknown"
_PRE_INVITE_CODES = frozenset({"unavailable", "internal", "unknown", "dataloss"})


def room_name(dial_id: str) -> str:
    """The LiveKit room of a dial."""
    return ROOM_PREFIX + dial_id


def participant_identity(dial_id: str) -> str:
    """The callee's participant identity in the dial's room."""
    return IDENTITY_PREFIX + dial_id


def dial_id_of_room(room: str) -> str | None:
    """The dial id a room name holds, or None for a room that is not a dial's."""
    if not room.startswith(ROOM_PREFIX) or len(room) == len(ROOM_PREFIX):
        return None
    return room[len(ROOM_PREFIX) :]


def status_of_sip_code(code: int, reason: str = "") -> str:
    """The dial status (or :data:`PUT_BACK`) of a call that failed with SIP ``code``."""
    status = STATUS_TABLE.get(("sip", str(code)))
    if status is not None:
        return status
    if 500 <= code < 600 and any(p in reason.lower() for p in TRUNK_LIMIT_PHRASES):
        return PUT_BACK
    return SIP_CLASS_STATUS.get(code // 100, "failed")


def sip_code_of(meta: Mapping[str, object]) -> int | None:
    """The SIP status code in a Twirp error's ``meta``, if it has one."""
    raw = meta.get("sip_status_code")
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    try:
        code = int(raw)
    except ValueError:
        return None
    return code if 100 <= code <= 699 else None


def outcome_of_error(http_status: int, code: str, msg: str, meta: Mapping[str, object]) -> str:
    """What a failed ``CreateSIPParticipant`` means: a dial status, :data:`PUT_BACK`,
    :data:`CHECK` or :data:`UNKNOWN`. ``code`` is the Twirp error code ("" when the
    answer was not a Twirp error: a proxy's page)."""
    sip = sip_code_of(meta)
    if sip is not None:
        return status_of_sip_code(sip, str(meta.get("sip_status", "")))
    if code == "canceled" and "timed out" in msg.lower():
        return STATUS_TABLE[("error", "ring_timeout")]
    if code == "resource_exhausted" or http_status == 429:
        return STATUS_TABLE[("error", "rate_limited")]
    if code in _PRE_INVITE_CODES:
        return CHECK
    if code == "deadline_exceeded" or (not code and http_status >= 500):
        return UNKNOWN
    return "failed"


def live_status_of(call_status: str) -> str | None:
    """The dial status of a ``sip.callStatus`` value (None: not a live status)."""
    return STATUS_TABLE.get(("sip.callStatus", call_status))


def disconnect_reason_name(raw: object) -> str:
    """A ``disconnect_reason`` as its enum name (protojson writes names; a number is
    accepted too). Absent: ``UNKNOWN_REASON`` (proto3 JSON leaves the zero value out)."""
    if raw is None or raw == "":
        return "UNKNOWN_REASON"
    if isinstance(raw, int) and not isinstance(raw, bool):
        return DISCONNECT_REASONS[raw] if 0 <= raw < len(DISCONNECT_REASONS) else str(raw)
    return str(raw)


def end_status_of(reason: str) -> str | None:
    """The dial status a SIP participant's ``disconnect_reason`` ends it with."""
    return STATUS_TABLE.get(("disconnect_reason", reason))
