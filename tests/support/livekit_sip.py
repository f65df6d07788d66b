"""How the stand-in LiveKit (tests/support/livekit_api.py) ends a SIP call: what
``CreateSIPParticipant`` answers and which ``disconnect_reason`` the callee leaves with,
as LiveKit's SIP service does it (github.com/livekit/sip pkg/sip/errors.go,
``classifyInviteError``; the Twirp code of a SIP status: github.com/livekit/protocol
livekit/sip.go, ``sipCodeToGRPCCode``; the meta: ``SIPStatus.TwirpErrorMeta``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: The SIP reason phrases of the codes the tests use (RFC 3261 §21, RFC 6665).
REASONS = {
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
}
#: ``sipCodeToGRPCCode`` for those codes (as Twirp codes).
TWIRP_CODE = {
    404: "not_found",
    408: "deadline_exceeded",
    480: "resource_exhausted",
    484: "invalid_argument",
    486: "resource_exhausted",
    503: "failed_precondition",
    600: "resource_exhausted",
    603: "permission_denied",
}
#: Twirp's HTTP status of those codes.
HTTP_STATUS = {
    "not_found": 404,
    "deadline_exceeded": 408,
    "resource_exhausted": 429,
    "invalid_argument": 400,
    "failed_precondition": 412,
    "permission_denied": 403,
    "canceled": 408,
}


@dataclass
class Script:
    """How one call goes."""

    #: ``answer`` (picks up, talks, hangs up), ``sip`` (fails with :attr:`sip_code`),
    #: ``ring_timeout`` (nobody picks up before LiveKit's ringing timeout).
    outcome: Literal["answer", "sip", "ring_timeout"] = "answer"
    sip_code: int = 0
    #: Stay answered until :meth:`LiveKitStandIn.release`.
    hold: bool = False
    #: Close CreateSIPParticipant's connection unanswered once the call is ``ringing``
    #: or ``answered``; the call goes on.
    drop: Literal["", "ringing", "answered"] = ""
    #: Seconds it rings before it is answered or fails (None: the stand-in's step).
    ring_s: float | None = None
    #: Seconds an answered call lasts (None: two steps).
    talk_s: float | None = None
    #: Webhooks sent again after the end (``participant_joined``, ``participant_left``).
    replay: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Answer:
    """CreateSIPParticipant's HTTP answer."""

    status: int
    body: dict[str, Any]


def answer_of(script: Script) -> Answer:
    """The Twirp error of a call that did not connect."""
    if script.outcome == "ring_timeout":
        return Answer(408, {"code": "canceled", "msg": "sip request timed out"})
    code = script.sip_code
    reason = REASONS.get(code, "Unknown")
    twirp = TWIRP_CODE.get(code, "invalid_argument" if code < 500 else "failed_precondition")
    return Answer(
        HTTP_STATUS[twirp],
        {
            "code": twirp,
            "msg": f"INVITE failed: sip status {code}: {reason}",
            "meta": {"sip_status_code": str(code), "sip_status": reason},
        },
    )


def ending_of(script: Script) -> str:
    """The ``disconnect_reason`` the callee of a call that did not connect leaves with."""
    code = script.sip_code
    if script.outcome == "ring_timeout" or code in (404, 408, 480):
        return "USER_UNAVAILABLE"
    if code == 486 or code >= 600:
        return "USER_REJECTED"
    if 500 <= code < 600:
        return "SIP_TRUNK_FAILURE"
    return "USER_UNAVAILABLE"
