"""The telnyx carrier's pure parts: its one status table (checked complete against the
``telnyx`` SDK's own webhook schema), the Ed25519 verifier checked against the SDK's
own verifier on the stand-in's webhooks, the route's refusals with a pinned clock, the
machine verdict kept on a live dial, the settings it needs, and the dialer's
Dial/reconcile decisions over a mock transport."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import typing
from collections.abc import Callable
from dataclasses import replace

import fakeredis
import httpx
import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from telnyx import Telnyx
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature
from telnyx.types import call_hangup, call_machine_detection_ended

from config.settings import load_settings
from domain.dials import LIVE_STATUSES, TERMINAL_STATUSES, DialRef
from domain.errors import ConfigError
from domain.keys import Keys
from domain.signing import FixedClock
from domain.telnyx import (
    TOLERANCE_S,
    decode_client_state,
    encode_client_state,
    load_public_key,
    verify,
)
from domain.verdicts import MachineVerdicts
from producer.http.app import create_app
from producer.http.routes.providers import CarrierAuth
from producer.http.routes.providers.telnyx import (
    OTHER_HANGUP,
    PATH,
    STATUS_TABLE,
    details_of,
    dial_status_of,
)
from producer.telnyx_commands import TelnyxCommands
from tests.support.telnyx_api import (
    API_KEY,
    CONNECTION_ID,
    Call,
    Script,
    TelnyxStandIn,
    sign,
)
from worker.dialers.base import DialRequest, Placed
from worker.dialers.telnyx import TelnyxDialer

#: hangup_cause -> the dial's end (docs/carriers.md "Telnyx": the status table).
CAUSES = {
    "normal_clearing": "completed",
    "time_limit": "completed",
    "user_busy": "busy",
    "call_rejected": "busy",
    "timeout": "no-answer",
    "no_answer": "no-answer",
    "originator_cancel": "canceled",
    "not_found": "failed",
    "unspecified": "failed",
}


def _literal_values(model: type, name: str) -> set[str]:
    """The values of an ``Optional[Literal[...]]`` field of an SDK model."""
    annotation = model.model_fields[name].annotation  # type: ignore[attr-defined]
    literal = next(a for a in typing.get_args(annotation) if a is not type(None))
    return set(typing.get_args(literal))


def test_the_table_covers_every_hangup_cause_of_telnyxs_schema() -> None:
    """The SDK's CallHangup webhook schema lists the causes Telnyx sends: each one is in
    the table, and the table has no cause the schema does not list."""
    documented = _literal_values(call_hangup.Payload, "hangup_cause")
    assert documented == set(CAUSES)
    assert {k[1] for k in STATUS_TABLE if k[0] == "hangup_cause"} == documented
    results = _literal_values(call_machine_detection_ended.Payload, "result")
    assert {k[1] for k in STATUS_TABLE if k[0] == "result"} <= results
    assert set(STATUS_TABLE.values()) <= LIVE_STATUSES | TERMINAL_STATUSES


@pytest.mark.parametrize(("cause", "status"), CAUSES.items())
def test_every_hangup_cause_ends_the_dial_as_the_table_says(cause: str, status: str) -> None:
    assert dial_status_of("call.hangup", {"hangup_cause": cause}) == status


def test_an_unlisted_cause_still_ends_the_dial() -> None:
    """A cause outside the schema (a Q.850 name, a newer one) or none: the call ended."""
    for payload in ({"hangup_cause": "unallocated_number"}, {}, {"hangup_cause": 7}):
        assert dial_status_of("call.hangup", payload) == OTHER_HANGUP == "failed"


def test_a_machine_verdict_turns_an_answered_end_into_voicemail() -> None:
    assert dial_status_of("call.hangup", {"hangup_cause": "normal_clearing"}, "machine") == (
        "voicemail"
    )
    assert dial_status_of("call.hangup", {"hangup_cause": "time_limit"}, "machine") == "voicemail"
    for verdict in ("human", "not_sure", None):
        assert dial_status_of("call.hangup", {"hangup_cause": "normal_clearing"}, verdict) == (
            "completed"
        )
    # Not answered: a verdict (however it came) does not make it voicemail.
    assert dial_status_of("call.hangup", {"hangup_cause": "user_busy"}, "machine") == "busy"


def test_live_events_map_to_live_statuses_and_others_to_nothing() -> None:
    assert dial_status_of("call.initiated", {}) == "queued"
    assert dial_status_of("call.answered", {}) == "in-progress"
    assert dial_status_of("call.bridged", {}) is None
    assert dial_status_of("call.machine.greeting.ended", {}) is None


def test_details_keep_the_allowed_fields_and_the_verdict() -> None:
    event = {
        "id": "ev-1",
        "occurred_at": "2026-12-01T10:00:00Z",
        "payload": {
            "call_control_id": "v3:abc",
            "hangup_cause": "normal_clearing",
            "sip_hangup_cause": "200",
            "client_state": "eyJ4IjoxfQ==",
            "to": "+12125550100",
            "call_quality_stats": {"inbound": {"mos": "4.5"}},
        },
    }
    kept = details_of(event, "machine")
    assert kept == {
        "call_control_id": "v3:abc",
        "hangup_cause": "normal_clearing",
        "sip_hangup_cause": "200",
        "answeredBy": "machine",
        "eventId": "ev-1",
        "occurredAt": "2026-12-01T10:00:00Z",
    }


def test_client_state_carries_the_dial_and_the_agent_and_refuses_anything_else() -> None:
    state = encode_client_state("dial_ab_1_1_cd", "agent é 1")
    assert "\n" not in state
    assert decode_client_state(state) == {"dialId": "dial_ab_1_1_cd", "callAgentId": "agent é 1"}
    junk = base64.b64encode(b'{"dialId": 5, "x": "y"}').decode()
    for text in (None, "", "%%%", base64.b64encode(b"[1]").decode(), junk, 42):
        assert decode_client_state(text) == {}


# -- signatures ------------------------------------------------------------------------
def standin_webhook(stand_in: TelnyxStandIn, cause: str = "normal_clearing") -> bytes:
    call = Call(
        dial={
            "to": "+12125550100",
            "from": "+13125550100",
            "client_state": encode_client_state("dial_ab_1_1_cd", "agent-1"),
            "webhook_url": "https://dialer.example.test/api/providers/telnyx/events",
        },
        created=time.monotonic(),
    )
    stand_in.calls.append(call)
    return json.dumps(stand_in.event(call, "call.hangup", Script(cause=cause))).encode()


def test_the_standins_webhooks_are_what_telnyxs_sdk_accepts_and_so_do_we() -> None:
    """The SDK's own verifier (telnyx.lib.webhook_verification) and its unwrap accept the
    stand-in's signature and body; batchdial's verifier accepts exactly those."""
    stand_in = TelnyxStandIn({})
    body = standin_webhook(stand_in, "user_busy")
    headers = sign(stand_in.key, body)
    verify_webhook_signature(body, headers, stand_in.public_key)
    event = Telnyx(api_key="KEY", public_key=stand_in.public_key).webhooks.unwrap(
        body.decode(), headers=headers
    )
    assert event.data is not None and event.data.event_type == "call.hangup"  # type: ignore[union-attr]
    assert event.data.payload.hangup_cause == "user_busy"  # type: ignore[union-attr]
    key = load_public_key(stand_in.public_key)
    assert (
        verify(
            key,
            body,
            headers["telnyx-timestamp"],
            headers["telnyx-signature-ed25519"],
            time.time(),
        )
        is None
    )


def test_altered_misdirected_stale_and_future_webhooks_are_refused_by_both() -> None:
    """Each forgery is refused by batchdial (clock pinned) and by the SDK's verifier."""
    stand_in = TelnyxStandIn({})
    body = standin_webhook(stand_in)
    now = int(time.time())
    good = sign(stand_in.key, body, now)
    other = SigningKey.generate()
    altered = body.replace(b"normal_clearing", b"user_busy")
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "altered body": (altered, good),
        "wrong key": (body, sign(other, body, now)),
        "stale": (body, sign(stand_in.key, body, now - TOLERANCE_S - 1)),
        "future": (body, sign(stand_in.key, body, now + TOLERANCE_S + 1)),
        "timestamp swapped": (body, {**good, "telnyx-timestamp": str(now - 1)}),
        "no signature": (body, {"telnyx-timestamp": str(now)}),
        "not base64": (body, {**good, "telnyx-signature-ed25519": "!!"}),
    }
    key = load_public_key(stand_in.public_key)
    for what, (content, headers) in cases.items():
        problem = verify(
            key,
            content,
            headers.get("telnyx-timestamp"),
            headers.get("telnyx-signature-ed25519"),
            float(now),
        )
        assert problem, what
        with pytest.raises(WebhookVerificationError):
            verify_webhook_signature(content, headers, stand_in.public_key)


def test_the_tolerance_boundary_with_a_pinned_clock() -> None:
    """Exactly TOLERANCE_S seconds old or ahead is accepted; one more is refused."""
    stand_in = TelnyxStandIn({})
    body = standin_webhook(stand_in)
    key = load_public_key(stand_in.public_key)
    at = 1_800_000_000
    for offset, ok in ((-TOLERANCE_S, True), (TOLERANCE_S, True), (-301, False), (301, False)):
        headers = sign(stand_in.key, body, at + offset)
        problem = verify(
            key, body, headers["telnyx-timestamp"], headers["telnyx-signature-ed25519"], at
        )
        assert (problem is None) is ok, (offset, problem)


@pytest.fixture
def route() -> tuple[TestClient, TelnyxStandIn, FixedClock]:
    stand_in = TelnyxStandIn({})
    clock = FixedClock(1_800_000_000.0)
    app = create_app(
        fakeredis.FakeRedis(decode_responses=True),
        "bdtest-telnyx-unit",
        clock=clock,
        carriers=CarrierAuth(telnyx_public_key=stand_in.public_key),
    )
    return TestClient(app), stand_in, clock


def test_the_route_refuses_what_fails_verification_before_looking_for_the_dial(
    route: tuple[TestClient, TelnyxStandIn, FixedClock],
) -> None:
    """401 for a stale, forged or unsigned webhook (the API's clock pinned); a genuine
    one for a dial that is not ours is verified, then not found (404)."""
    client, stand_in, clock = route
    body = standin_webhook(stand_in)
    at = int(clock.time())
    for headers in (
        sign(stand_in.key, body, at - 301),
        sign(SigningKey.generate(), body, at),
        {"content-type": "application/json"},
    ):
        answer = client.post(PATH, content=body, headers=headers)
        assert answer.status_code == 401, answer.text
    answer = client.post(PATH, content=body, headers=sign(stand_in.key, body, at - 300))
    assert answer.status_code == 404, answer.text
    signed_junk = b'{"data": []}'
    answer = client.post(PATH, content=signed_junk, headers=sign(stand_in.key, signed_junk, at))
    assert answer.status_code == 400, answer.text


def test_without_a_public_key_every_webhook_is_refused() -> None:
    stand_in = TelnyxStandIn({})
    app = create_app(fakeredis.FakeRedis(decode_responses=True), "bdtest-telnyx-unit")
    body = standin_webhook(stand_in)
    answer = TestClient(app).post(PATH, content=body, headers=sign(stand_in.key, body))
    assert answer.status_code == 401
    assert "BATCHDIAL_TELNYX_PUBLIC_KEY" in answer.text


def test_a_verdict_is_kept_on_a_live_dial_only() -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    keys = Keys("bdtest-verdicts")
    verdicts = MachineVerdicts(client, keys)
    live = DialRef("ws_1", "job_ab", "dial_ab_1_1_cd", "pn_1")
    client.hset(keys.dial("ws_1", live.dial_id), mapping={"status": "in-progress"})
    assert verdicts.remember(live, "machine")
    assert not verdicts.remember(live, "machine")  # a replay changes nothing
    assert verdicts.recall(live) == "machine"
    ended = DialRef("ws_1", "job_ab", "dial_ab_2_1_cd", "pn_1")
    client.hset(keys.dial("ws_1", ended.dial_id), mapping={"status": "completed"})
    assert not verdicts.remember(ended, "machine")
    assert verdicts.recall(ended) is None
    missing = DialRef("ws_1", "job_ab", "dial_ab_3_1_cd", "pn_1")
    assert not verdicts.remember(missing, "machine")
    assert not client.exists(keys.dial("ws_1", missing.dial_id))


# -- settings --------------------------------------------------------------------------
PUBLIC_KEY = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
TELNYX_ENV = {
    "dialer": "telnyx",
    "public_url": "https://dialer.example.com/",
    "telnyx_api_key": API_KEY,
    "telnyx_connection_id": CONNECTION_ID,
    "telnyx_public_key": PUBLIC_KEY,
}


def test_telnyx_settings_load_with_their_defaults() -> None:
    settings = load_settings(**TELNYX_ENV)
    assert settings.telnyx_api_base == "https://api.telnyx.com"
    assert settings.public_url == "https://dialer.example.com"
    assert settings.telnyx_stream_url is None


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("public_url", None, "BATCHDIAL_PUBLIC_URL"),
        ("telnyx_api_key", None, "BATCHDIAL_TELNYX_API_KEY"),
        ("telnyx_api_key", " ", "BATCHDIAL_TELNYX_API_KEY"),
        ("telnyx_connection_id", None, "BATCHDIAL_TELNYX_CONNECTION_ID"),
        ("telnyx_connection_id", "12/34", "BATCHDIAL_TELNYX_CONNECTION_ID"),
        ("telnyx_public_key", None, "BATCHDIAL_TELNYX_PUBLIC_KEY"),
        ("telnyx_public_key", "not base64!", "BATCHDIAL_TELNYX_PUBLIC_KEY"),
        ("telnyx_public_key", base64.b64encode(b"short").decode(), "BATCHDIAL_TELNYX_PUBLIC_KEY"),
        ("telnyx_api_base", "ftp://api", "BATCHDIAL_TELNYX_API_BASE"),
        ("telnyx_stream_url", "https://agent/{dialId}", "BATCHDIAL_TELNYX_STREAM_URL"),
        ("telnyx_stream_url", "wss://agent/{agent}", "BATCHDIAL_TELNYX_STREAM_URL"),
    ],
)
def test_a_missing_or_bad_telnyx_setting_is_named(
    field: str, value: str | None, named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(**{**TELNYX_ENV, field: value})
    assert named in str(raised.value)
    assert API_KEY not in str(raised.value)  # the secret is never echoed


# -- the dialer ------------------------------------------------------------------------
REQUEST = DialRequest(
    dial_id="dial_ab_1_1_cd",
    job_id="job_ab",
    row_id="job_ab.1",
    to_number="+12125550100",
    from_number="+13125550100",
    call_agent_id="agent 1",
    inputs={"name": "x" * 1000},
    attempt=1,
    voicemail="retry",
)
OURS = encode_client_state(REQUEST.dial_id, REQUEST.call_agent_id)
CCID = "v3:call-control-id"


async def _no_sleep(_: float) -> None:
    return None


def dialer(handle: Callable[[httpx.Request], httpx.Response], **options: object) -> TelnyxDialer:
    return TelnyxDialer(
        API_KEY,
        connection_id=CONNECTION_ID,
        public_url="https://dialer.example",
        api_base="https://api.example",
        sleep=_no_sleep,
        client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
        **options,  # type: ignore[arg-type]
    )


def dialed(call_id: str = CCID) -> httpx.Response:
    return httpx.Response(200, json={"data": {"call_control_id": call_id, "is_alive": False}})


def listed(*states: str, after: str | None = None) -> httpx.Response:
    data = [{"call_control_id": f"v3:{i}", "client_state": s} for i, s in enumerate(states)]
    return httpx.Response(200, json={"data": data, "meta": {"cursors": {"after": after}}})


def place(d: TelnyxDialer) -> Placed:
    return asyncio.run(d.place(REQUEST, lambda *_: None))


def test_the_dial_names_the_connection_the_webhook_the_dial_and_the_detection() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return dialed()

    d = dialer(handle, stream_url="wss://agent.example/{callAgentId}/{dialId}", time_limit_s=9e9)
    placed = place(d)
    assert placed.handoff and placed.call_id == CCID and placed.carrier == "telnyx"
    (request,) = seen
    assert request.url == "https://api.example/v2/calls"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = json.loads(request.content)
    assert body == {
        "connection_id": CONNECTION_ID,
        "to": "+12125550100",
        "from": "+13125550100",
        "webhook_url": "https://dialer.example/api/providers/telnyx/events",
        "webhook_url_method": "POST",
        "client_state": OURS,
        "command_id": REQUEST.dial_id,
        "answering_machine_detection": "detect",
        "time_limit_secs": 14400,
        "stream_url": "wss://agent.example/agent%201/dial_ab_1_1_cd",
        "stream_track": "both_tracks",
        "stream_bidirectional_mode": "rtp",
    }
    assert len(body["client_state"]) < 200  # the inputs stay out of it


@pytest.mark.parametrize(
    ("voicemail", "detection"),
    [("hangup", "detect"), ("leave_message", "greeting_end"), (None, None)],
)
def test_the_voicemail_action_picks_the_detection(
    voicemail: str | None, detection: str | None
) -> None:
    body = dialer(lambda r: dialed()).body(replace(REQUEST, voicemail=voicemail))
    assert body.get("answering_machine_detection") == detection


def test_refused_before_sending_is_retried_and_places_one_call() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        return dialed()

    assert place(dialer(handle)).handoff
    assert seen == ["POST", "POST"]  # no list: nothing had been sent


def test_a_lost_answer_adopts_the_listed_call_without_dialing_again() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            raise httpx.ReadTimeout("lost", request=request)
        if "page[after]" not in request.url.params:
            other = encode_client_state("dial_ab_2_1_cd", "agent 1")
            return listed(other, "junk", after="c2")
        return listed(other_state(), OURS)

    placed = place(dialer(handle))
    assert (
        placed.handoff
        and placed.call_id == "v3:1"
        and placed.details
        == {
            "callControlId": "v3:1",
            "adopted": True,
        }
    )
    assert seen == [
        "POST /v2/calls",
        f"GET /v2/connections/{CONNECTION_ID}/active_calls",
        f"GET /v2/connections/{CONNECTION_ID}/active_calls",
    ]


def other_state() -> str:
    return encode_client_state("dial_zz_1_1_cd", "agent 1")


def test_a_lost_answer_with_no_call_listed_sends_the_same_dial_again() -> None:
    bodies: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listed()
        bodies.append(request.content)
        if len(bodies) == 1:
            return httpx.Response(503, json={"errors": [{"code": "10007"}]})
        return dialed()

    assert place(dialer(handle)).call_id == CCID
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same command_id


def test_a_lost_answer_that_cannot_be_reconciled_ends_placement_unknown() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(500)
        raise httpx.RemoteProtocolError("dropped", request=request)

    placed = place(dialer(handle))
    assert (placed.status, placed.reason) == ("failed", "placement_unknown")


def test_a_dial_refused_after_a_lost_answer_ends_placement_unknown() -> None:
    posts: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listed()
        posts.append(1)
        if len(posts) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        return httpx.Response(422, json={"errors": [{"code": "90018", "title": "dup"}]})

    placed = place(dialer(handle))
    assert (placed.status, placed.reason) == ("failed", "placement_unknown")


def test_no_dial_is_sent_again_once_the_command_id_window_may_have_passed() -> None:
    now = [0.0]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            now[0] += 50  # a slow list: the window is gone
            return listed()
        raise httpx.ReadTimeout("lost", request=request)

    placed = place(dialer(handle, clock=lambda: now[0]))
    assert (placed.status, placed.reason) == ("failed", "placement_unknown")


def test_a_4xx_fails_with_telnyxs_error_and_a_429_puts_the_row_back() -> None:
    error = {"errors": [{"code": "10016", "title": "Phone number must be in +E.164 format"}]}
    refused = place(dialer(lambda r: httpx.Response(422, json=error)))
    assert refused.status == "failed" and refused.details == {
        "status": 422,
        "code": "10016",
        "title": "Phone number must be in +E.164 format",
    }
    limited = {"errors": [{"code": "90103", "title": "Dials per second limit reached"}]}
    back = place(
        dialer(
            lambda r: httpx.Response(429, json=limited, headers={"x-ratelimit-reset": "4"}),
            rate_limit_wait_s=0.5,
        )
    )
    assert back.status is None and back.reason == "rate_limited"
    assert back.retry_in_s is not None and 4 <= back.retry_in_s <= 6


def test_a_429_after_a_lost_answer_waits_and_sends_the_same_dial() -> None:
    posts: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listed()
        posts.append(request.content)
        if len(posts) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        if len(posts) == 2:
            return httpx.Response(429, json={"errors": [{"code": "10011"}]})
        return dialed()

    placed = place(dialer(handle))
    assert placed.handoff and len(posts) == 3 and len(set(posts)) == 1


def test_the_hangup_command_names_the_call_and_says_what_failed() -> None:
    """The API's one command: POST …/actions/hangup with the Bearer key and command_id."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(200, json={"data": {"result": "ok"}})
        return httpx.Response(422, json={"errors": [{"code": "90018"}]})

    commands = TelnyxCommands(
        API_KEY, "https://api.example/", transport=httpx.MockTransport(handle)
    )
    assert asyncio.run(commands.hangup("v3:a/b", "dial_x.machine-hangup")) is None
    assert seen[0].url == "https://api.example/v2/calls/v3%3Aa%2Fb/actions/hangup"
    assert seen[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(seen[0].content) == {"command_id": "dial_x.machine-hangup"}
    problem = asyncio.run(commands.hangup("v3:a/b", "dial_x.machine-hangup"))
    assert problem is not None and "422" in problem


def test_the_voicemail_action_is_read_from_the_running_config() -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    keys = Keys("bdtest-verdicts")
    ref = DialRef("ws_1", "job_ab", "dial_ab_1_1_cd", "pn_1")
    verdicts = MachineVerdicts(client, keys)
    assert verdicts.voicemail_action(ref) is None
    client.hset(keys.job("ws_1", "job_ab"), "config", json.dumps({"callAgentId": "a"}))
    assert verdicts.voicemail_action(ref) is None
    config = {"callAgentId": "a", "voicemail": {"action": "retry"}}
    client.hset(keys.job("ws_1", "job_ab"), "config", json.dumps(config))
    assert verdicts.voicemail_action(ref) == "retry"
