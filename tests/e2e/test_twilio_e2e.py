"""A whole job through a real API and a real worker with ``BATCHDIAL_DIALER=twilio``
against the stand-in Twilio API (tests/support/twilio_api.py): every row called once,
the caps measured at the stand-in, every CallStatus mapped, an answering machine ended
as voicemail and retried, forged callbacks refused with nothing changed, a lost
create-call answer reconciled without a second call, 429s backed off with no failed
dial, and ``GET /api/dials/{dialId}`` for the agent."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import redis

from domain.dials import DialEnds
from domain.keys import Keys
from tests.support.bodies import rows_of
from tests.support.http import check_dial_view, job_url, last_dials, read_all
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory
from tests.support.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    Script,
    TwilioStandIn,
    serve,
    twilio_signature,
)
from tests.support.waits import wait_for, wait_until

AGENT_URL = "https://agent.example.test/twiml/{callAgentId}?dialId={dialId}"
CAP = 3
ROWS = rows_of(12)
N = [row["toNumber"] for row in ROWS]
#: What each row's call does at the stand-in (rows not named: answered, completed).
SCRIPTS = {
    N[0]: Script(replay=("ringing", "in-progress", "completed")),  # late, repeated
    N[4]: Script(end="busy"),
    N[5]: Script(end="no-answer"),
    N[6]: Script(end="failed"),
    N[7]: Script(end="canceled"),
    N[8]: Script(answered_by=("machine_start", "human")),  # a machine, then a person
    N[10]: Script(hold=True),  # its end comes only after batchdial gave up on it
    N[11]: Script(hold=True),  # stays answered until the test lets it end
}
DROPPED = N[9]  # the create's answer is lost; the call exists
UNKNOWN = N[10]  # the create's answer is lost and the calls list fails too
STATUS = "/api/providers/twilio/status"


def dial_id_of(call_form: dict[str, list[str]]) -> str:
    return parse_qs(urlsplit(call_form["StatusCallback"][0]).query)["dialId"][0]


def test_a_whole_job_through_the_twilio_dialer(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Given the stand-in Twilio and a job of 12 rows (cap 3, one call per pool number at
    a time, voicemail retried), when it runs, then every row is called once (the machine
    row twice, as its retry), never above the caps, each CallStatus ends its dial as the
    table says, forged callbacks change nothing, the lost answer is adopted, the unknown
    one fails as placement_unknown, and the 429s leave no failed dial."""
    stand_in = TwilioStandIn(SCRIPTS)
    stand_in.rate_limit_first = 2
    stand_in.drop_after_create = {DROPPED, UNKNOWN}
    stand_in.list_fails = {UNKNOWN}
    with serve(stand_in) as api_base:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="twilio",
            BATCHDIAL_PUBLIC_URL=PUBLIC_URL + "/",  # a trailing slash is taken off
            BATCHDIAL_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            BATCHDIAL_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            BATCHDIAL_TWILIO_AGENT_URL=AGENT_URL,
            BATCHDIAL_TWILIO_API_BASE=api_base,
            BATCHDIAL_DIALER_TIMEOUT_SECONDS="5",
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        stack = start_stack(env, threads=4, dial_limit=10, per_number=1)

        def unknown_sid() -> str:
            return stand_in.calls_to(UNKNOWN)[0].sid

        stand_in.api_base = stack.base
        job = stack.create_job(
            ROWS,
            CAP,
            voicemail={"action": "retry"},
            retry={"maxAttempts": 2, "on": ["voicemail"], "backoffSeconds": [1]},
        )
        stack.start(job)

        # A held call: forged, altered and misdirected callbacks are refused, no change.
        held = wait_until(
            lambda: next((c for c in stand_in.calls_to(N[11]) if c.status == "in-progress"), None),
            60,
            "the held call to be answered",
        )
        dial_id = dial_id_of(held.form)
        wait_for(
            lambda: stack.http.get(f"/api/dials/{dial_id}").json()["status"] == "in-progress",
            30,
            "the held dial to be in progress",
        )
        check_forgeries(stack.base, stand_in, held, dial_id)
        assert stack.http.get(f"/api/dials/{dial_id}").json()["status"] == "in-progress"
        stand_in.release(N[11])

        stack.wait_status(job, "COMPLETE", 90)
        stand_in.release(UNKNOWN)  # its late end changes nothing
        wait_for(
            lambda: any(c[1] == "completed" for c in stand_in.callbacks if c[0] == unknown_sid()),
            30,
            "the unknown call's end to be reported",
        )
        url = job_url(job)
        dials = read_all(stack.http, f"{url}/dials")
        events = read_all(stack.http, f"{url}/events")

        # Every row called once; the machine row twice (its retry); no second call for the
        # lost answers; the rate-limited creates made no call.
        calls = stand_in.calls_per_number()
        assert calls == {n: 2 if n == N[8] else 1 for n in N}, calls
        assert sum(stand_in.rate_limited.values()) == 2
        # Caps measured at the stand-in: the job's cap, one call per pool number.
        assert 1 <= stand_in.peak <= CAP
        assert max(stand_in.peak_from.values()) == 1
        # Every CallStatus mapped (SPEC §4.7), the machine as voicemail, then retried.
        last = last_dials(dials)
        assert {n: last[n]["status"] for n in N} == {
            **dict.fromkeys(N, "completed"),
            N[4]: "busy",
            N[5]: "no-answer",
            N[6]: "failed",
            N[7]: "canceled",
            UNKNOWN: "failed",
        }
        machine = sorted((d for d in dials if d["toNumber"] == N[8]), key=lambda d: d["attempt"])
        assert [d["status"] for d in machine] == ["voicemail", "completed"]
        finished = {e["dialId"]: e for e in events if e["type"] == "dial.finished"}
        unknown_dial = last[UNKNOWN]["dialId"]
        assert finished[unknown_dial]["reason"] == "placement_unknown"
        adopted = finished[last[DROPPED]["dialId"]]
        assert adopted["status"] == "completed"
        # Keyed by Twilio's CallSid as well: the adopted call's, found by reconciliation.
        ends = DialEnds(real_redis, Keys(namespace))
        ref = ends.locate_call("twilio", stand_in.calls_to(DROPPED)[0].sid)
        assert ref is not None and ref.dial_id == last[DROPPED]["dialId"]
        assert ends.locate_call("twilio", unknown_sid()) is None
        # 429s: the row went back (dial.withdrawn), no dial failed for it.
        withdrawn = [e for e in events if e["type"] == "dial.withdrawn"]
        assert len(withdrawn) == 2 and {e["reason"] for e in withdrawn} == {"rate_limited"}
        assert not [
            e for e in events if e.get("reason") == "rate_limited" and e["type"] == "dial.finished"
        ]
        assert len(dials) == len(N) + 1  # 12 rows, one retry; withdrawn dials are not listed
        # Live statuses as dial.status_changed, each once, despite the late repeats.
        first = last[N[0]]["dialId"]
        changes = [
            e["to"] for e in events if e["type"] == "dial.status_changed" and e["dialId"] == first
        ]
        assert changes == ["queued", "ringing", "in-progress"]
        assert finished[first]["provider"]["CallDuration"] == "3"
        assert set(finished[first]["provider"]) <= {
            "CallSid",
            "CallStatus",
            "CallDuration",
            "AnsweredBy",
            "SequenceNumber",
            "Timestamp",
        }
        # What the agent got: the TwiML URL with callAgentId and dialId, detection on.
        for call in stand_in.calls:
            dial = dial_id_of(call.form)
            assert call.form["Url"] == [AGENT_URL.format(callAgentId="agent-1", dialId=dial)]
            assert call.form["MachineDetection"] == ["Enable"]
            assert call.form["StatusCallbackEvent"] == [
                "initiated",
                "ringing",
                "answered",
                "completed",
            ]
            assert call.form["StatusCallback"][0].startswith(f"{PUBLIC_URL}{STATUS}?dialId=")
        assert not [e for e in stand_in.errors if " 401 " in e], stand_in.errors
        held_end = [e for e in events if e["type"] == "dial.finished" and e["dialId"] == dial_id]
        assert [e["status"] for e in held_end] == ["completed"]  # the genuine end, once
        check_dial_route(stack.http, env, last, job["id"])


def check_forgeries(base: str, stand_in: TwilioStandIn, call: Any, dial_id: str) -> None:
    """Callbacks not signed as Twilio signs them are refused (401)."""
    url = f"{PUBLIC_URL}{STATUS}?dialId={dial_id}"
    params = stand_in.callback_params(call, "completed", 9, False, Script())
    target = f"{base}{STATUS}?dialId={dial_id}"
    genuine = twilio_signature(AUTH_TOKEN, url, params)
    altered = {**params, "CallStatus": "busy"}
    other_url = f"{PUBLIC_URL}{STATUS}?dialId=dial_0_0_1_x"
    attempts = {
        "wrong token": (params, twilio_signature("not-the-token", url, params)),
        "altered form": (altered, genuine),
        "wrong URL": (params, twilio_signature(AUTH_TOKEN, other_url, params)),
        "API's own URL": (params, twilio_signature(AUTH_TOKEN, target, params)),
        "no signature": (params, ""),
    }
    for what, (form, signature) in attempts.items():
        headers = {"X-Twilio-Signature": signature} if signature else {}
        answer = httpx.post(target, data=form, headers=headers, timeout=10)
        assert answer.status_code == 401, (what, answer.text)


def check_dial_route(
    http: httpx.Client, env: dict[str, str], last: dict[str, dict[str, Any]], job_id: str
) -> None:
    """``GET /api/dials/{dialId}``: the dial with its inputs, 404 for another workspace."""
    dial = last[N[3]]
    body = check_dial_view(http, env, dial, ROWS[3]["inputs"])
    assert body["callAgentId"] == "agent-1"
    assert body["jobId"] == job_id
    assert (body["toNumber"], body["fromNumber"], body["attempt"], body["status"]) == (
        N[3],
        dial["fromNumber"],
        1,
        "completed",
    )
    assert http.get("/api/dials/dial_0_0_1_nothing").status_code == 404
