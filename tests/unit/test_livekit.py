"""The livekit carrier's pure parts: its one status table (SIP codes, Twirp errors,
disconnect reasons, call states), the webhook token verifier checked against LiveKit's
own ``WebhookReceiver``, the API tokens against its ``TokenVerifier``, the settings it
needs, the webhook's reading, and the dialer's requests and retry/reconcile decisions
over a mock transport."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from livekit.api import AccessToken, TokenVerifier, WebhookReceiver
from livekit.protocol import models

from config.settings import load_settings
from domain.dials import LIVE_STATUSES, TERMINAL_STATUSES
from domain.errors import ConfigError, Unauthorized
from domain.livekit_calls import (
    CHECK,
    DISCONNECT_REASONS,
    PUT_BACK,
    STATUS_TABLE,
    UNKNOWN,
    dial_id_of_room,
    disconnect_reason_name,
    end_status_of,
    live_status_of,
    outcome_of_error,
    participant_identity,
    room_name,
    status_of_sip_code,
)
from domain.livekit_tokens import api_token, body_hash, verify_webhook
from producer.http.routes.providers.livekit import report_of
from tests.support.livekit_api import API_KEY, API_SECRET, TRUNK_ID, webhook_token
from tests.support.livekit_sip import Script, answer_of, ending_of
from worker.dialers.base import DialRequest, Placed
from worker.dialers.livekit import LiveKitDialer
from worker.dialers.livekit_twirp import api_base
from worker.runtime import make_dialer

DIAL = "dial_ab_1_1_cd"
SIP_CODES = {
    486: "busy",
    600: "busy",
    603: "busy",
    607: "busy",  # another 6xx: a global refusal by the callee
    408: "no-answer",
    480: "no-answer",
    487: "no-answer",
    404: "failed",
    410: "failed",
    484: "failed",
    604: "failed",
    403: "failed",
    500: "failed",
    503: "failed",
    302: "failed",
}


@pytest.mark.parametrize(("code", "status"), SIP_CODES.items())
def test_every_sip_code_maps_onto_a_dial_status(code: int, status: str) -> None:
    """A call that failed with a SIP final response ends as the table says."""
    assert status_of_sip_code(code) == status
    assert status in TERMINAL_STATUSES


def test_a_trunk_rate_limit_puts_the_row_back() -> None:
    """A 5xx whose reason is the trunk's CPS or concurrency limit rang nobody."""
    assert status_of_sip_code(503, "Trunk CPS limit exceeded. Region: us1") == PUT_BACK
    assert status_of_sip_code(500, "Trunk concurrent call limit exceeded") == PUT_BACK
    assert status_of_sip_code(500, "Service Unavailable") == "failed"


@pytest.mark.parametrize(
    ("http_status", "code", "msg", "meta", "outcome"),
    [
        # 486 comes as resource_exhausted/429, like a rate limit: the SIP code wins.
        (429, "resource_exhausted", "sip status 486", {"sip_status_code": "486"}, "busy"),
        (429, "resource_exhausted", "sip status 480", {"sip_status_code": "480"}, "no-answer"),
        (403, "permission_denied", "sip status 603", {"sip_status_code": "603"}, "busy"),
        (404, "not_found", "sip status 404", {"sip_status_code": "404"}, "failed"),
        (429, "resource_exhausted", "rate limit exceeded", {}, PUT_BACK),
        (429, "", "", {}, PUT_BACK),
        (408, "canceled", "sip request timed out", {}, "no-answer"),
        (
            408,
            "canceled",
            "transaction failed to complete (0 intermediate responses)",
            {},
            "failed",
        ),
        (503, "unavailable", "cpu exhausted", {}, CHECK),
        (500, "internal", "update room failed", {}, CHECK),
        (408, "deadline_exceeded", "context deadline exceeded", {}, UNKNOWN),
        (502, "", "", {}, UNKNOWN),
        (403, "permission_denied", "permissions denied", {}, "failed"),
        (404, "not_found", "requested sip trunk does not exist", {}, "failed"),
        (400, "invalid_argument", "missing sip_call_to", {}, "failed"),
        (412, "failed_precondition", "bad SDP", {}, "failed"),
        (429, "resource_exhausted", "x", {"sip_status_code": "not a number"}, PUT_BACK),
    ],
)
def test_create_sip_participant_errors(
    http_status: int, code: str, msg: str, meta: dict[str, str], outcome: str
) -> None:
    """Each CreateSIPParticipant error means one thing; a SIP status is read first."""
    assert outcome_of_error(http_status, code, msg, meta) == outcome


def test_disconnect_reasons_are_livekits_and_each_ends_a_dial() -> None:
    """The enum mirrors livekit_models.proto (the SDK's generated copy), and every reason
    but MIGRATION ends the callee's dial with a status of SPEC §4.7."""
    names = [models.DisconnectReason.Name(n) for n in models.DisconnectReason.values()]
    assert list(DISCONNECT_REASONS) == names
    for name in names:
        status = end_status_of(name)
        if name == "MIGRATION":
            assert status is None
        else:
            assert status in TERMINAL_STATUSES, name
    assert end_status_of("USER_UNAVAILABLE") == "no-answer"
    assert end_status_of("USER_REJECTED") == "busy"
    assert end_status_of("SIP_TRUNK_FAILURE") == "failed"
    assert end_status_of("CLIENT_INITIATED") == "completed"
    assert end_status_of("ROOM_DELETED") == "completed"
    assert disconnect_reason_name(None) == "UNKNOWN_REASON"
    assert disconnect_reason_name(12) == "USER_REJECTED"
    assert disconnect_reason_name("USER_REJECTED") == "USER_REJECTED"


def test_call_states_and_the_table_hold_only_dial_statuses() -> None:
    assert live_status_of("dialing") == "queued"
    assert live_status_of("ringing") == "ringing"
    assert live_status_of("active") == "in-progress"
    assert live_status_of("hangup") is None
    assert set(STATUS_TABLE.values()) <= TERMINAL_STATUSES | LIVE_STATUSES | {PUT_BACK}


@pytest.mark.parametrize("code", [486, 600, 603, 408, 480, 503])
def test_the_sip_code_and_livekits_disconnect_reason_agree(code: int) -> None:
    """Where LiveKit's SIP service ends a call with a disconnect reason (the stand-in
    follows its classifier), the webhook's reading of it gives the SIP code's status;
    404 is where the code is finer (failed, where USER_UNAVAILABLE says no-answer)."""
    script = Script(outcome="sip", sip_code=code)
    assert end_status_of(ending_of(script)) == status_of_sip_code(code)
    answer = answer_of(script)
    assert outcome_of_error(answer.status, answer.body["code"], "", answer.body["meta"]) == (
        status_of_sip_code(code)
    )


def test_room_and_identity_name_the_dial() -> None:
    assert dial_id_of_room(room_name(DIAL)) == DIAL
    assert dial_id_of_room("someone-elses-room") is None
    assert dial_id_of_room("batchdial-") is None
    assert participant_identity(DIAL) == f"callee-{DIAL}"


# -- tokens ------------------------------------------------------------------------------
BODY = json.dumps(
    {
        "event": "participant_left",
        "room": {"sid": "RM_1", "name": room_name(DIAL)},
        "participant": {
            "sid": "PA_1",
            "identity": participant_identity(DIAL),
            "kind": "SIP",
            "attributes": {"sip.callStatus": "hangup"},
            "disconnectReason": "USER_REJECTED",
        },
        "id": "EV_1",
        "createdAt": "1700000000",
    }
).encode()


def _receiver() -> WebhookReceiver:
    return WebhookReceiver(TokenVerifier(API_KEY, API_SECRET))


def _ours(token: str | None, body: bytes = BODY, now: float | None = None) -> dict[str, Any]:
    return verify_webhook(
        token, body, api_key=API_KEY, api_secret=API_SECRET, now=now or time.time()
    )


def test_the_standins_webhooks_are_what_livekits_receiver_accepts() -> None:
    """LiveKit's own WebhookReceiver accepts the stand-in's token, and so does ours; so
    do both for a token the SDK itself signs."""
    token = webhook_token(BODY)
    event = _receiver().receive(BODY.decode(), token)
    assert event.event == "participant_left"
    assert event.participant.disconnect_reason == models.DisconnectReason.USER_REJECTED
    assert _ours(token)["sha256"] == body_hash(BODY)
    assert _ours("Bearer " + token)["iss"] == API_KEY
    sdk = AccessToken(API_KEY, API_SECRET).with_sha256(body_hash(BODY)).to_jwt()
    assert _receiver().receive(BODY.decode(), sdk).id == "EV_1"
    assert _ours(sdk)["sha256"] == body_hash(BODY)


def _forgeries() -> dict[str, tuple[str, bytes]]:
    now = int(time.time())
    altered = BODY.replace(b"USER_REJECTED", b"CLIENT_INITIATED")
    return {
        "wrong secret": (webhook_token(BODY, secret="not-the-secret-0123456789abcdef-0123"), BODY),
        "wrong issuer": (webhook_token(BODY, api_key="APIsomeoneelse"), BODY),
        "expired": (webhook_token(BODY, now=now - 600), BODY),
        "not valid yet": (webhook_token(BODY, now=now + 600), BODY),
        "altered body": (webhook_token(BODY), altered),
        "hash of another body": (webhook_token(BODY, sha256=body_hash(altered)), BODY),
        "no hash": (webhook_token(BODY, sha256=""), BODY),
        "no expiry": (jwt.encode({"iss": API_KEY, "sha256": body_hash(BODY)}, API_SECRET), BODY),
        "unsigned": (
            jwt.encode({"iss": API_KEY, "exp": now + 60, "sha256": body_hash(BODY)}, "", "none"),
            BODY,
        ),
    }


@pytest.mark.parametrize("what", list(_forgeries()))
def test_forged_expired_and_altered_webhooks_are_refused(what: str) -> None:
    """What LiveKit's receiver refuses, ours refuses too (naming what is wrong)."""
    token, body = _forgeries()[what]
    with pytest.raises(Exception):  # noqa: B017, PT011 -- the SDK raises bare Exception
        _receiver().receive(body.decode(), token)
    with pytest.raises(Unauthorized):
        _ours(token, body)


def test_no_token_is_refused_and_the_leeway_is_a_minute() -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        _ours(None)
    issued = 1_800_000_000
    token = webhook_token(BODY, now=issued, valid_s=300)
    assert _ours(token, now=issued + 300 + 59)
    with pytest.raises(Unauthorized, match="expired"):
        _ours(token, now=issued + 300 + 61)
    with pytest.raises(Unauthorized, match="not valid yet"):
        _ours(token, now=issued - 61)


def test_api_tokens_grant_exactly_one_rooms_calls() -> None:
    """LiveKit's TokenVerifier accepts a dial's token: room create/admin of its room,
    SIP call, no SIP admin."""
    claims = TokenVerifier(API_KEY, API_SECRET).verify(
        api_token(API_KEY, API_SECRET, room=room_name(DIAL), now=time.time())
    )
    assert claims.video is not None and claims.sip is not None
    assert claims.video.room_create and claims.video.room_admin
    assert claims.video.room == room_name(DIAL)
    assert claims.sip.call and not claims.sip.admin


# -- settings ----------------------------------------------------------------------------
LIVEKIT_ENV = {
    "dialer": "livekit",
    "public_url": "https://dialer.example.com",
    "livekit_url": "wss://project.livekit.cloud/",
    "livekit_api_key": API_KEY,
    "livekit_api_secret": API_SECRET,
    "livekit_sip_trunk_id": TRUNK_ID,
}


def test_livekit_settings_load_and_the_dialer_speaks_https_to_a_wss_url() -> None:
    settings = load_settings(**LIVEKIT_ENV)
    assert settings.livekit_url == "wss://project.livekit.cloud"
    dialer = make_dialer(settings)
    assert isinstance(dialer, LiveKitDialer)
    assert dialer.twirp.base == "https://project.livekit.cloud"
    assert api_base("ws://127.0.0.1:7880/") == "http://127.0.0.1:7880"
    assert api_base("https://lk.example.com/base") == "https://lk.example.com/base"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("public_url", None, "BATCHDIAL_PUBLIC_URL"),
        ("livekit_url", None, "BATCHDIAL_LIVEKIT_URL"),
        ("livekit_api_key", None, "BATCHDIAL_LIVEKIT_API_KEY"),
        ("livekit_api_secret", None, "BATCHDIAL_LIVEKIT_API_SECRET"),
        ("livekit_api_secret", "  ", "BATCHDIAL_LIVEKIT_API_SECRET"),
        ("livekit_sip_trunk_id", None, "BATCHDIAL_LIVEKIT_SIP_TRUNK_ID"),
        ("livekit_url", "project.livekit.cloud", "BATCHDIAL_LIVEKIT_URL"),
        ("livekit_url", "ftp://project.livekit.cloud", "BATCHDIAL_LIVEKIT_URL"),
        ("livekit_url", "wss://project.livekit.cloud/?x=1", "BATCHDIAL_LIVEKIT_URL"),
        ("livekit_api_key", "API key", "BATCHDIAL_LIVEKIT_API_KEY"),
        ("livekit_sip_trunk_id", "trunk-1", "BATCHDIAL_LIVEKIT_SIP_TRUNK_ID"),
        ("livekit_ringing_timeout_seconds", "0", "BATCHDIAL_LIVEKIT_RINGING_TIMEOUT_SECONDS"),
    ],
)
def test_a_missing_or_bad_livekit_setting_is_named(
    name: str, value: str | None, named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(**{**LIVEKIT_ENV, name: value})
    assert named in str(raised.value)


# -- the webhook's reading ----------------------------------------------------------------
def _event(event_type: str, /, *, callee: bool = True, **participant: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"event": event_type, "room": {"name": room_name(DIAL)}}
    if callee:
        event["participant"] = {
            "identity": participant_identity(DIAL),
            "kind": "SIP",
            "sid": "PA_1",
            **participant,
        }
    return event


def test_webhooks_of_the_callee_report_its_progress_and_end() -> None:
    joined = report_of(_event("participant_joined", attributes={"sip.callStatus": "dialing"}))
    assert (joined.dial_id, joined.status) == (DIAL, "queued")
    left = report_of(_event("participant_left", disconnectReason="USER_REJECTED"))
    assert left.status == "busy" and left.details["disconnectReason"] == "USER_REJECTED"
    assert report_of(_event("participant_left", disconnectReason=11)).status == "no-answer"
    assert report_of(_event("participant_left")).status == "completed"  # UNKNOWN_REASON
    assert report_of(_event("room_finished", callee=False)).status == "completed"


def test_webhooks_of_others_change_nothing() -> None:
    """The agent, another participant, another app's room, and other events."""
    agent = report_of(_event("participant_left", kind="AGENT", identity="agent-AJ_1"))
    assert agent.dial_id == DIAL and agent.status is None
    other = report_of(_event("participant_left", identity="callee-dial_ab_2_1_cd"))
    assert other.status is None
    foreign = report_of({"event": "room_finished", "room": {"name": "support-room"}})
    assert foreign.dial_id == "" and foreign.status is None
    assert report_of(_event("track_published", kind="SIP")).status is None
    assert report_of({"event": "participant_left"}).status is None


def test_voicemail_is_refused_when_the_dialer_cannot_detect_machines() -> None:
    """Under the livekit dialer, a job asking for voicemail handling is refused at its
    field (at create and at update); other dialers accept it."""
    from pydantic import ValidationError

    from producer.schemas.jobs import JobCreate, JobUpdate
    from producer.validation import Context, Limits

    job = {
        "name": "n",
        "callAgentId": "a",
        "maxConcurrentDials": 1,
        "fromPhoneNumberIds": ["pn_1"],
        "voicemail": {"action": "hangup"},
    }
    livekit = {"batchdial": Context(5, frozenset({"pn_1"}), Limits(machine_detection=False))}
    for model, body in ((JobCreate, job), (JobUpdate, {"voicemail": {"action": "hangup"}})):
        with pytest.raises(ValidationError) as raised:
            model.model_validate(body, context=livekit)
        error = raised.value.errors()[0]
        assert error["loc"][0] == "voicemail" and "livekit" in error["msg"]
    other = {"batchdial": Context(5, frozenset({"pn_1"}), Limits())}
    assert JobCreate.model_validate(job, context=other).voicemail is not None
    without = {k: v for k, v in job.items() if k != "voicemail"}
    assert JobCreate.model_validate(without, context=livekit).voicemail is None


# -- the dialer over a mock transport ------------------------------------------------------
REQUEST = DialRequest(
    dial_id=DIAL,
    job_id="job_ab",
    row_id="job_ab.1",
    to_number="+12125550100",
    from_number="+13125550100",
    call_agent_id="agent-1",
    inputs={"customer_name": "John Doe"},
    attempt=1,
)
Handler = Callable[[str, dict[str, Any]], httpx.Response]


async def _no_sleep(_: float) -> None:
    return None


def run(handle: Handler, **options: Any) -> tuple[Placed, list[str], list[httpx.Request]]:
    """Place REQUEST against ``handle`` (method, body) -> answer; the placement, the
    methods called in order, and the requests."""
    seen: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        method = request.url.path.rsplit("/", 1)[-1]
        return handle(method, json.loads(request.content))

    dialer = LiveKitDialer(
        "wss://lk.example",
        API_KEY,
        API_SECRET,
        sip_trunk_id=TRUNK_ID,
        sleep=_no_sleep,
        client=httpx.AsyncClient(transport=httpx.MockTransport(transport)),
        **options,
    )
    placed = asyncio.run(dialer.place(REQUEST, lambda *_: None))
    return placed, [r.url.path.rsplit("/", 1)[-1] for r in seen], seen


ANSWERED = {
    "participant_id": "PA_9",
    "participant_identity": "x",
    "room_name": "r",
    "sip_call_id": "S",
}


def ok(method: str, _: dict[str, Any]) -> httpx.Response:
    if method == "CreateSIPParticipant":
        return httpx.Response(200, json=ANSWERED)
    if method == "ListParticipants":
        return httpx.Response(200, json={"participants": []})
    return httpx.Response(200, json={})


def twirp(code: str, status: int, msg: str = "", **meta: str) -> httpx.Response:
    return httpx.Response(
        status, json={"code": code, "msg": msg, **({"meta": meta} if meta else {})}
    )


def test_the_requests_name_the_room_the_agent_the_dial_and_the_caller_id() -> None:
    """CreateRoom, CreateDispatch (agent_name = callAgentId, metadata {dialId, inputs}),
    CreateSIPParticipant (trunk, To, caller ID, identity, waiting for the answer), each
    with a token LiveKit's verifier accepts for this room."""
    placed, methods, seen = run(ok, ringing_timeout_s=25, max_call_s=600, timeout_s=5)
    assert methods == ["CreateRoom", "CreateDispatch", "CreateSIPParticipant"]
    assert [r.url.path.split("/")[2] for r in seen] == [
        "livekit.RoomService",
        "livekit.AgentDispatchService",
        "livekit.SIP",
    ]
    assert all(str(r.url).startswith("https://lk.example/twirp/") for r in seen)
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0] == {
        "name": f"batchdial-{DIAL}",
        "metadata": json.dumps({"dialId": DIAL}, separators=(",", ":")),
    }
    assert bodies[1]["agentName"] == "agent-1" and bodies[1]["room"] == f"batchdial-{DIAL}"
    assert json.loads(bodies[1]["metadata"]) == {"dialId": DIAL, "inputs": REQUEST.inputs}
    assert bodies[2] == {
        "sipTrunkId": TRUNK_ID,
        "sipCallTo": "+12125550100",
        "sipNumber": "+13125550100",
        "roomName": f"batchdial-{DIAL}",
        "participantIdentity": f"callee-{DIAL}",
        "participantAttributes": {"batchdial.dialId": DIAL},
        "waitUntilAnswered": True,
        "ringingTimeout": "25s",
        "maxCallDuration": "600s",
    }
    verifier = TokenVerifier(API_KEY, API_SECRET)
    for request in seen:
        claims = verifier.verify(request.headers["Authorization"].removeprefix("Bearer "))
        assert claims.video is not None and claims.video.room == f"batchdial-{DIAL}"
        assert request.headers["content-type"] == "application/json"
    assert seen[2].extensions["timeout"]["read"] == 30  # the ringing, and then some
    assert placed == Placed(
        handoff=True,
        carrier="livekit",
        call_id="PA_9",
        live_status="in-progress",
        details={"participantSid": "PA_9", "sipCallId": "S"},
    )


def test_refused_before_sending_is_retried_and_places_one_call() -> None:
    calls: list[str] = []

    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        calls.append(method)
        if method == "CreateSIPParticipant" and calls.count(method) == 1:
            raise httpx.ConnectError("refused")
        return ok(method, body)

    placed, methods, _ = run(handle)
    assert placed.handoff and methods.count("CreateSIPParticipant") == 2
    assert "ListParticipants" not in methods  # nothing had been sent: nothing to look for


def _lost_then(participants: list[dict[str, Any]] | None) -> Handler:
    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "CreateSIPParticipant":
            raise httpx.ReadTimeout("lost")
        if method == "ListParticipants":
            if participants is None:
                return twirp("internal", 500, "down")
            return httpx.Response(200, json={"participants": participants})
        return ok(method, body)

    return handle


def test_a_lost_answer_adopts_the_callee_found_in_the_room() -> None:
    """The call exists (its callee is in the room): adopted, never placed again."""
    callee = {
        "sid": "PA_7",
        "identity": f"callee-{DIAL}",
        "kind": "SIP",
        "attributes": {"sip.callStatus": "ringing"},
    }
    agent = {"sid": "PA_1", "identity": "agent-AJ_1", "kind": "AGENT", "attributes": {}}
    placed, methods, _ = run(_lost_then([agent, callee]))
    assert methods.count("CreateSIPParticipant") == 1
    assert placed.handoff and placed.call_id == "PA_7" and placed.live_status == "ringing"
    assert "DeleteRoom" not in methods


@pytest.mark.parametrize("participants", [[], None], ids=["no callee", "list fails"])
def test_a_lost_answer_without_a_callee_is_placement_unknown(
    participants: list[dict[str, Any]] | None,
) -> None:
    """No callee in the room may mean it rang and ended: never sent again; the room is
    deleted (hanging up a call that might exist)."""
    placed, methods, _ = run(_lost_then(participants))
    assert (placed.status, placed.reason) == ("failed", "placement_unknown")
    assert methods.count("CreateSIPParticipant") == 1
    assert methods[-1] == "DeleteRoom"


def test_a_failure_before_the_invite_is_sent_again_once_the_room_is_empty() -> None:
    """``unavailable`` is LiveKit failing before the INVITE: looked at, then sent again."""
    sent: list[str] = []

    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        sent.append(method)
        if method == "CreateSIPParticipant" and sent.count(method) == 1:
            return twirp("unavailable", 503, "no SIP service available")
        return ok(method, body)

    placed, methods, _ = run(handle)
    assert placed.handoff
    assert methods == [
        "CreateRoom",
        "CreateDispatch",
        "CreateSIPParticipant",
        "ListParticipants",
        "CreateSIPParticipant",
    ]


def test_busy_ends_the_dial_and_a_rate_limit_puts_the_row_back() -> None:
    """486 arrives as resource_exhausted/429 with its SIP code: busy, not a rate limit;
    the same code without one is LiveKit's rate limit. Either way the room goes."""

    def busy(method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "CreateSIPParticipant":
            return twirp(
                "resource_exhausted",
                429,
                "sip status 486",
                sip_status_code="486",
                sip_status="Busy Here",
            )
        return ok(method, body)

    placed, methods, _ = run(busy)
    assert (placed.status, placed.reason) == ("busy", "SIP 486 Busy Here")
    assert placed.details is not None and placed.details["sip_status_code"] == "486"
    assert methods[-1] == "DeleteRoom"

    def limited(method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "CreateSIPParticipant":
            return twirp("resource_exhausted", 429, "rate limit exceeded")
        return ok(method, body)

    back, methods, _ = run(limited)
    assert back.status is None and back.retry_in_s is not None and back.reason == "rate_limited"
    assert methods[-1] == "DeleteRoom"


def test_a_lost_dispatch_answer_is_looked_up_before_dispatching_again() -> None:
    """Two dispatches would put two agents in the room."""

    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "CreateDispatch":
            raise httpx.RemoteProtocolError("dropped")
        if method == "ListDispatch":
            return httpx.Response(
                200, json={"agent_dispatches": [{"id": "AD_1", "agent_name": "agent-1"}]}
            )
        return ok(method, body)

    placed, methods, _ = run(handle)
    assert placed.handoff
    assert methods == ["CreateRoom", "CreateDispatch", "ListDispatch", "CreateSIPParticipant"]


def test_a_refused_dispatch_fails_the_dial_before_any_call() -> None:
    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "CreateDispatch":
            return twirp("permission_denied", 403, "permissions denied")
        return ok(method, body)

    placed, methods, _ = run(handle)
    assert placed.status == "failed" and "CreateDispatch" in placed.reason
    assert "CreateSIPParticipant" not in methods and methods[-1] == "DeleteRoom"


def test_an_unreachable_livekit_fails_the_dial_after_five_tries_and_calls_no_one() -> None:
    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        raise httpx.ConnectError("refused")

    placed, methods, _ = run(handle)
    assert placed.status == "failed" and "unreachable" in placed.reason
    assert methods == ["CreateRoom"] * 5 + ["DeleteRoom"]


def test_the_ringing_timeout_is_no_answer() -> None:
    def handle(method: str, body: dict[str, Any]) -> httpx.Response:
        if method == "CreateSIPParticipant":
            return twirp("canceled", 408, "sip request timed out")
        return ok(method, body)

    placed, _, _ = run(handle)
    assert (placed.status, placed.reason) == ("no-answer", "ringing_timeout")
