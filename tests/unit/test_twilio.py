"""The twilio carrier's pure parts: its status table, the details it keeps, the
``X-Twilio-Signature`` verifier checked against Twilio's own ``RequestValidator``, the
settings it needs, and the dialer's create/reconcile decisions over a mock transport."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from twilio.request_validator import RequestValidator

from config.settings import load_settings
from domain.dials import LIVE_STATUSES, TERMINAL_STATUSES
from domain.errors import ConfigError
from producer.http.routes.providers.twilio import (
    STATUS_TABLE,
    details_of,
    dial_status_of,
    signature,
    verify,
)
from tests.support.twilio_api import ACCOUNT_SID, AUTH_TOKEN, Call, Script, TwilioStandIn
from tests.support.twilio_api import twilio_signature as standin_signature
from worker.dialers.base import DialRequest
from worker.dialers.twilio import TwilioDialer

URL = "https://dialer.example.test/api/providers/twilio/status?dialId=dial_ab_1_1_cd"
CALL_STATUSES = {
    "queued": "queued",
    "initiated": "queued",
    "ringing": "ringing",
    "in-progress": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
MACHINES = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


@pytest.mark.parametrize(("call_status", "status"), CALL_STATUSES.items())
def test_every_call_status_maps_onto_a_dial_status(call_status: str, status: str) -> None:
    """Each CallStatus Twilio documents maps to the SPEC §4.7 status of the table."""
    assert dial_status_of({"CallStatus": call_status}) == status
    assert status in LIVE_STATUSES | TERMINAL_STATUSES


@pytest.mark.parametrize("answered_by", MACHINES)
def test_a_machine_or_fax_answer_ends_as_voicemail(answered_by: str) -> None:
    """AnsweredBy machine_* or fax turns a completed call into voicemail."""
    assert dial_status_of({"CallStatus": "completed", "AnsweredBy": answered_by}) == "voicemail"


@pytest.mark.parametrize("answered_by", ["human", "unknown", ""])
def test_a_person_or_unknown_answer_stays_completed(answered_by: str) -> None:
    assert dial_status_of({"CallStatus": "completed", "AnsweredBy": answered_by}) == "completed"


def test_a_machine_does_not_change_a_live_or_unanswered_status() -> None:
    assert dial_status_of({"CallStatus": "in-progress", "AnsweredBy": "machine_start"}) == (
        "in-progress"
    )
    assert dial_status_of({"CallStatus": "busy", "AnsweredBy": "machine_start"}) == "busy"


def test_unknown_statuses_map_to_nothing_and_the_table_is_complete() -> None:
    assert dial_status_of({"CallStatus": "teleported"}) is None
    assert dial_status_of({}) is None
    assert {v for (k, v) in STATUS_TABLE.items() if k[0] == "CallStatus"} == set(
        CALL_STATUSES.values()
    )
    assert {k[1] for k in STATUS_TABLE if k[0] == "AnsweredBy"} == set(MACHINES)


def test_details_keep_only_the_allowed_fields_bounded() -> None:
    form = {"CallSid": "CA1", "CallDuration": "3", "Caller": "x", "ErrorCode": "9" * 500}
    kept = details_of(form)
    assert set(kept) == {"CallSid", "CallDuration", "ErrorCode"}
    assert len(kept["ErrorCode"]) == 200


def standin_callback() -> dict[str, str]:
    stand_in = TwilioStandIn({})
    call = Call(
        sid="CA" + "1" * 32,
        form={"To": ["+12125550100"], "From": ["+13125550100"]},
        created=0.0,
        date_created="",
    )
    stand_in.calls.append(call)
    return stand_in.callback_params(call, "completed", 3, True, Script(answered_by=("human",)))


def test_the_standins_signatures_are_what_twilios_validator_accepts() -> None:
    """Twilio's own RequestValidator accepts the stand-in's signature, and batchdial's
    verifier accepts exactly that one."""
    params = standin_callback()
    signed = standin_signature(AUTH_TOKEN, URL, params)
    assert RequestValidator(AUTH_TOKEN).validate(URL, params, signed)
    assert signature(AUTH_TOKEN, URL, list(params.items())) == signed
    assert verify(AUTH_TOKEN, URL, list(params.items()), signed)
    # Twilio's validator also takes the URL with the default port; so does ours.
    with_port = URL.replace(".test/", ".test:443/")
    assert RequestValidator(AUTH_TOKEN).validate(with_port, params, signed)
    assert verify(AUTH_TOKEN, with_port, list(params.items()), signed)


def test_forged_altered_and_misdirected_signatures_are_refused() -> None:
    params = standin_callback()
    items = list(params.items())
    signed = standin_signature(AUTH_TOKEN, URL, params)
    validator = RequestValidator(AUTH_TOKEN)
    forged = standin_signature("another-token", URL, params)
    altered = [*((k, v) for k, v in items if k != "CallStatus"), ("CallStatus", "busy")]
    other_dial = URL.replace("dial_ab_1_1_cd", "dial_ab_2_1_cd")
    cases = [
        (URL, items, forged),
        (URL, altered, signed),
        (other_dial, items, signed),
        (URL.replace("https://", "http://"), items, signed),
        (URL.split("?", maxsplit=1)[0], items, signed),
        (URL, [*items, ("Extra", "1")], signed),
        (URL, items, ""),
    ]
    for url, form, given in cases:
        assert not verify(AUTH_TOKEN, url, form, given), (url, given)
        assert not validator.validate(url, dict(form), given)


TWILIO_ENV = {
    "dialer": "twilio",
    "public_url": "https://dialer.example.com/",
    "twilio_account_sid": ACCOUNT_SID,
    "twilio_auth_token": "secret",
    "twilio_agent_url": "https://agent.example.com/twiml/{callAgentId}?dial={dialId}",
}


def test_twilio_settings_load_and_the_public_url_loses_its_trailing_slash() -> None:
    settings = load_settings(**TWILIO_ENV)
    assert settings.public_url == "https://dialer.example.com"
    assert settings.twilio_api_base == "https://api.twilio.com"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("public_url", None, "BATCHDIAL_PUBLIC_URL"),
        ("twilio_account_sid", None, "BATCHDIAL_TWILIO_ACCOUNT_SID"),
        ("twilio_auth_token", None, "BATCHDIAL_TWILIO_AUTH_TOKEN"),
        ("twilio_auth_token", "  ", "BATCHDIAL_TWILIO_AUTH_TOKEN"),
        ("twilio_agent_url", None, "BATCHDIAL_TWILIO_AGENT_URL"),
        ("twilio_account_sid", "AB123", "BATCHDIAL_TWILIO_ACCOUNT_SID"),
        ("twilio_agent_url", "https://a.example/{agent}", "BATCHDIAL_TWILIO_AGENT_URL"),
        ("twilio_agent_url", "/relative/{dialId}", "BATCHDIAL_TWILIO_AGENT_URL"),
        ("public_url", "dialer.example.com", "BATCHDIAL_PUBLIC_URL"),
        ("public_url", "https://dialer.example.com/?x=1", "BATCHDIAL_PUBLIC_URL"),
        ("twilio_api_base", "ftp://api", "BATCHDIAL_TWILIO_API_BASE"),
    ],
)
def test_a_missing_or_bad_twilio_setting_is_named(
    field: str, value: str | None, named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(**{**TWILIO_ENV, field: value})
    assert named in str(raised.value)


REQUEST = DialRequest(
    dial_id="dial_ab_1_1_cd",
    job_id="job_ab",
    row_id="job_ab.1",
    to_number="+12125550100",
    from_number="+13125550100",
    call_agent_id="agent 1",
    inputs={},
    attempt=1,
    voicemail="leave_message",
)


async def _no_sleep(_: float) -> None:
    return None


def dialer(handler: httpx.MockTransport) -> TwilioDialer:
    return TwilioDialer(
        ACCOUNT_SID,
        AUTH_TOKEN,
        agent_url="https://agent.example/{callAgentId}/{dialId}",
        public_url="https://dialer.example",
        api_base="https://api.example",
        sleep=_no_sleep,
        client=httpx.AsyncClient(transport=handler),
    )


def created(sid: str = "CA" + "2" * 32) -> httpx.Response:
    return httpx.Response(201, json={"sid": sid, "status": "queued"})


def test_the_create_form_names_the_agent_the_dial_and_the_detection() -> None:
    form = dialer(httpx.MockTransport(lambda r: created())).form(REQUEST)
    assert form[:3] == [
        ("To", "+12125550100"),
        ("From", "+13125550100"),
        ("Url", "https://agent.example/agent%201/dial_ab_1_1_cd"),
    ]
    assert (
        "StatusCallback",
        "https://dialer.example/api/providers/twilio/status?dialId=dial_ab_1_1_cd",
    ) in form
    assert [v for k, v in form if k == "StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    assert ("MachineDetection", "DetectMessageEnd") in form


def test_refused_before_sending_is_retried_and_places_one_call() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        return created()

    placed = asyncio.run(dialer(httpx.MockTransport(handle)).place(REQUEST, lambda *_: None))
    assert placed.handoff and placed.call_id == "CA" + "2" * 32
    assert seen == ["POST", "POST"]  # no list: nothing had been sent


def test_a_lost_answer_lists_before_creating_again() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if request.method == "POST" and seen.count("POST") == 1:
            raise httpx.ReadTimeout("lost", request=request)
        if request.method == "GET":
            assert request.url.params["To"] == "+12125550100"
            return httpx.Response(200, json={"calls": []})
        return created()

    placed = asyncio.run(dialer(httpx.MockTransport(handle)).place(REQUEST, lambda *_: None))
    assert placed.handoff and seen == ["POST", "GET", "POST"]


def test_a_lost_answer_adopts_the_newest_call_since_the_dial_whatever_the_list_order() -> None:
    """Calls created before the dial started are not ours; of the others, the newest is
    adopted, oldest-first or newest-first (the page's order is not relied on)."""
    now = datetime.now(UTC)
    listed = [
        {"sid": "CA" + "1" * 32, "date_created": format_datetime(now - timedelta(hours=1))},
        {"sid": "CA" + "3" * 32, "date_created": format_datetime(now + timedelta(seconds=1))},
        {"sid": "CA" + "4" * 32, "date_created": format_datetime(now + timedelta(seconds=2))},
    ]
    for order in (listed, listed[::-1]):

        def handle(request: httpx.Request, order: list[dict[str, str]] = order) -> httpx.Response:
            if request.method == "POST":
                raise httpx.ReadTimeout("lost", request=request)
            return httpx.Response(200, json={"calls": order})

        placed = asyncio.run(dialer(httpx.MockTransport(handle)).place(REQUEST, lambda *_: None))
        assert placed.handoff and placed.call_id == "CA" + "4" * 32


def test_a_4xx_fails_with_twilios_code_and_a_429_puts_the_row_back() -> None:
    error = {"code": 21211, "message": "Invalid 'To' Phone Number", "more_info": "x", "status": 400}
    refused = asyncio.run(
        dialer(httpx.MockTransport(lambda r: httpx.Response(400, json=error))).place(
            REQUEST, lambda *_: None
        )
    )
    assert refused.status == "failed" and refused.details == error
    limited = {"code": 20429, "message": "Too Many Requests", "status": 429}
    back = asyncio.run(
        dialer(httpx.MockTransport(lambda r: httpx.Response(429, json=limited))).place(
            REQUEST, lambda *_: None
        )
    )
    assert back.status is None and back.retry_in_s is not None and back.reason == "rate_limited"
    assert json.dumps(back.details)


def _job(**fields: object) -> dict[str, object]:
    return {
        "name": "n",
        "callAgentId": "a",
        "maxConcurrentDials": 1,
        "fromPhoneNumberIds": ["pn"],
    } | fields


def test_voicemail_retry_needs_a_retry_policy_naming_voicemail() -> None:
    """``voicemail.action`` is one of three; ``retry`` needs ``retry.on`` to name voicemail."""
    from pydantic import ValidationError

    from producer.schemas.jobs import JobCreate

    for bad in (
        _job(voicemail={"action": "retry"}),
        _job(voicemail={"action": "retry"}, retry={"maxAttempts": 2, "on": ["busy"]}),
        _job(voicemail={"action": "beep"}),
    ):
        with pytest.raises(ValidationError) as raised:
            JobCreate.model_validate(bad)
        assert raised.value.errors()[0]["loc"][0] == "voicemail"
    ok = _job(voicemail={"action": "retry"}, retry={"maxAttempts": 2, "on": ["voicemail"]})
    assert JobCreate.model_validate(ok).voicemail is not None
    for action in ("hangup", "leave_message"):
        assert JobCreate.model_validate(_job(voicemail={"action": action})).voicemail
