"""A whole job through a real API and a real worker with ``BATCHDIAL_DIALER=telnyx``
against the stand-in Telnyx (tests/support/telnyx_api.py): every row called once, the
caps and the pool spread measured at the stand-in, every hangup cause mapped, an
answering machine hung up on, ended as voicemail and retried, forged, stale, future and replayed
webhooks refused or without effect, a lost Dial answer reconciled from the active
calls without a second call, an unknowable one failed as placement_unknown, 429s
backed off with no failed dial, and ``GET /api/dials/{dialId}`` for the agent."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import httpx
import redis
from nacl.signing import SigningKey

from domain.dials import DialEnds
from domain.keys import Keys
from domain.telnyx import decode_client_state
from tests.support.bodies import rows_of
from tests.support.http import check_dial_view, job_url, last_dials, read_all
from tests.support.procs import NUMBERS, env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory
from tests.support.telnyx_api import (
    API_KEY,
    CONNECTION_ID,
    EVENTS_PATH,
    PUBLIC_URL,
    Call,
    Script,
    TelnyxStandIn,
    serve,
    sign,
)
from tests.support.waits import wait_for, wait_until

STREAM_URL = "wss://agent.example.test/stream/{callAgentId}?dial={dialId}"
CAP = 3
ROWS = rows_of(15)
N = [row["toNumber"] for row in ROWS]
DROPPED = N[1]  # the Dial's answer is lost; the call is listed as active: adopted
MACHINE = N[11]  # a machine, then a person (the retry)
UNKNOWN = N[12]  # the Dial's answer is lost and the active calls cannot be listed
HELD = N[13]  # stays answered while forged webhooks are sent about it
#: What each row's call does at the stand-in (rows not named: answered, normal_clearing).
SCRIPTS = {
    N[0]: Script(replay=("call.initiated", "call.answered", "call.hangup")),  # repeated
    DROPPED: Script(hold=True),  # ends once the test saw it listed
    N[2]: Script(cause="user_busy"),
    N[4]: Script(cause="call_rejected"),
    N[5]: Script(cause="timeout"),
    N[6]: Script(cause="no_answer"),
    N[7]: Script(cause="originator_cancel"),
    N[8]: Script(cause="not_found"),
    N[9]: Script(cause="unspecified"),
    N[10]: Script(cause="time_limit"),
    MACHINE: Script(amd=("machine", "human")),
    UNKNOWN: Script(hold=True),  # its end comes only after batchdial gave up on it
    HELD: Script(hold=True),
    N[14]: Script(cause="unallocated_number"),  # not a documented cause
}
EXPECTED = {
    **dict.fromkeys(N, "completed"),
    N[2]: "busy",
    N[4]: "busy",
    N[5]: "no-answer",
    N[6]: "no-answer",
    N[7]: "canceled",
    N[8]: "failed",
    N[9]: "failed",
    UNKNOWN: "failed",
    N[14]: "failed",
}


def dial_id_of(call: Call) -> str:
    return decode_client_state(call.dial["client_state"])["dialId"]


def post(base: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{base}{EVENTS_PATH}", content=body, headers=headers, timeout=10)


def test_a_whole_job_through_the_telnyx_dialer(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Given the stand-in Telnyx and a job of 15 rows (cap 3, one call per pool number
    at a time, voicemail retried), when it runs, then every row is called once (the
    machine row twice, as its retry), never above the caps, each hangup cause ends its
    dial as the table says, forged and stale webhooks change nothing, replays change
    nothing, the lost answer is adopted from the active calls, the unknowable one
    fails as placement_unknown, and the 429s leave no failed dial."""
    stand_in = TelnyxStandIn(SCRIPTS)
    stand_in.rate_limit_once = {N[2], N[5]}
    stand_in.drop_after_dial = {DROPPED, UNKNOWN}
    stand_in.list_fails_from = UNKNOWN
    with serve(stand_in) as api_base:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="telnyx",
            BATCHDIAL_PUBLIC_URL=PUBLIC_URL + "/",
            BATCHDIAL_TELNYX_API_KEY=API_KEY,
            BATCHDIAL_TELNYX_CONNECTION_ID=CONNECTION_ID,
            BATCHDIAL_TELNYX_PUBLIC_KEY=stand_in.public_key,
            BATCHDIAL_TELNYX_API_BASE=api_base,
            BATCHDIAL_TELNYX_STREAM_URL=STREAM_URL,
            BATCHDIAL_DIALER_TIMEOUT_SECONDS="5",
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        stack = start_stack(env, threads=4, dial_limit=10, per_number=1)
        stand_in.api_base = stack.base
        job = stack.create_job(
            ROWS,
            CAP,
            voicemail={"action": "retry"},
            retry={"maxAttempts": 2, "on": ["voicemail"], "backoffSeconds": [1]},
        )
        stack.start(job)

        # The lost answer: batchdial finds the call among the active ones.
        wait_for(lambda: DROPPED in stand_in.listed, 60, "the dropped call to be listed")
        stand_in.release(DROPPED)

        # A held call: forged, stale and future webhooks are refused, a replay is harmless.
        held = wait_until(
            lambda: next(iter(stand_in.calls_to(HELD)), None), 60, "the held call to be dialed"
        )
        dial_id = dial_id_of(held)
        wait_for(
            lambda: (
                stack.http.get(f"/api/dials/{dial_id}").json()["status"] == "in-progress"
                and "call.machine.detection.ended" in held.events
            ),
            30,
            "the held dial to be answered",
        )
        check_forgeries(stack, stand_in, held, job)
        stand_in.release(HELD)

        stack.wait_status(job, "COMPLETE", 90)
        unknown = stand_in.calls_to(UNKNOWN)[0]
        stand_in.release(UNKNOWN)  # its late end changes nothing
        wait_for(
            lambda: (unknown.call_control_id, "call.hangup", 200) in stand_in.webhooks,
            30,
            "the unknown call's end to be reported",
        )
        check_replays(stack, stand_in, job)
        url = job_url(job)
        dials = read_all(stack.http, f"{url}/dials")
        events = read_all(stack.http, f"{url}/events")

        # Every row called once; the machine row twice (its retry); no second call for the
        # lost answers (no Dial sent again: the list answered, or could not be read).
        calls = stand_in.calls_per_number()
        assert calls == {n: 2 if n == MACHINE else 1 for n in N}, calls
        assert stand_in.dials[DROPPED] == stand_in.dials[UNKNOWN] == 1
        assert not stand_in.duplicates
        assert sum(stand_in.rate_limited.values()) == 2
        # Caps measured at the stand-in: the job's cap, one call per pool number, and
        # every pool number used.
        assert 1 <= stand_in.peak <= CAP, stand_in.peak
        assert max(stand_in.peak_from.values()) == 1, stand_in.peak_from
        spread = Counter(c.from_ for c in stand_in.calls)
        assert set(spread) == set(NUMBERS), spread
        # Every hangup cause mapped (SPEC §4.7), the machine as voicemail, then retried.
        last = last_dials(dials)
        assert {n: last[n]["status"] for n in N} == EXPECTED
        machine = sorted((d for d in dials if d["toNumber"] == MACHINE), key=lambda d: d["attempt"])
        assert [d["status"] for d in machine] == ["voicemail", "completed"]
        # The machine was hung up on by the API (voicemail.action retry); nobody else.
        machine_calls = stand_in.calls_to(MACHINE)
        assert stand_in.hangups == [
            (machine_calls[0].call_control_id, f"{machine[0]['dialId']}.machine-hangup")
        ]
        assert machine_calls[0].events["call.hangup"]["data"]["payload"]["hangup_source"] == (
            "caller"
        )
        finished = [e for e in events if e["type"] == "dial.finished"]
        ends = Counter(e["dialId"] for e in finished)
        assert set(ends.values()) == {1}, ends  # every dial ended once, replays or not
        by_dial = {e["dialId"]: e for e in finished}
        assert by_dial[machine[0]["dialId"]]["provider"]["answeredBy"] == "machine"
        assert by_dial[last[UNKNOWN]["dialId"]]["reason"] == "placement_unknown"
        assert by_dial[last[DROPPED]["dialId"]]["status"] == "completed"
        assert by_dial[last[N[14]]["dialId"]]["provider"]["hangup_cause"] == "unallocated_number"
        # Keyed by Telnyx's call_control_id too: the adopted call's, found by listing.
        carrier = DialEnds(real_redis, Keys(namespace))
        ref = carrier.locate_call("telnyx", stand_in.calls_to(DROPPED)[0].call_control_id)
        assert ref is not None and ref.dial_id == last[DROPPED]["dialId"]
        assert carrier.locate_call("telnyx", unknown.call_control_id) is None
        # 429s: the row went back (dial.withdrawn), no dial failed for it.
        withdrawn = [e for e in events if e["type"] == "dial.withdrawn"]
        assert len(withdrawn) == 2 and {e["reason"] for e in withdrawn} == {"rate_limited"}
        assert not [e for e in finished if e.get("reason") == "rate_limited"]
        assert len(dials) == len(N) + 1  # 15 rows, one retry; withdrawn dials are not listed
        # Live statuses as dial.status_changed, each once, despite the repeats.
        first = last[N[0]]["dialId"]
        changes = [
            e["to"] for e in events if e["type"] == "dial.status_changed" and e["dialId"] == first
        ]
        assert changes == ["queued", "in-progress"]
        assert set(by_dial[first]["provider"]) <= {
            "call_control_id",
            "call_session_id",
            "hangup_cause",
            "hangup_source",
            "sip_hangup_cause",
            "start_time",
            "answeredBy",
            "eventId",
            "occurredAt",
        }
        # What the agent got: its stream URL and client_state, with callAgentId and dialId.
        for call in stand_in.calls:
            dial = dial_id_of(call)
            assert decode_client_state(call.dial["client_state"]) == {
                "dialId": dial,
                "callAgentId": "agent-1",
            }
            assert call.dial["command_id"] == dial
            assert call.dial["webhook_url"] == PUBLIC_URL + EVENTS_PATH
            assert call.dial["answering_machine_detection"] == "detect"
            assert call.dial["stream_url"] == STREAM_URL.format(callAgentId="agent-1", dialId=dial)
        assert not [e for e in stand_in.errors if " 401 " in e], stand_in.errors
        check_dial_route(stack.http, env, last, job["id"])


def check_forgeries(stack: Any, stand_in: TelnyxStandIn, call: Call, job: dict[str, Any]) -> None:
    """Webhooks not signed as Telnyx signs them, or signed too long ago or ahead, are
    refused (401) and change nothing; a replay of a genuine one changes nothing."""
    hangup = stand_in.event(call, "call.hangup", Script(cause="user_busy"))
    call.events.pop("call.hangup")  # the genuine hangup comes later, with its own cause
    body = json.dumps(hangup).encode()
    now = int(time.time())
    dial_id = dial_id_of(call)

    def its_events() -> list[dict[str, Any]]:  # the job's other calls go on meanwhile
        return [
            e for e in read_all(stack.http, f"{job_url(job)}/events") if e.get("dialId") == dial_id
        ]

    before = its_events()
    attempts = {
        "wrong key": (body, sign(SigningKey.generate(), body)),
        "altered body": (body.replace(b"user_busy", b"normal_clearing"), sign(stand_in.key, body)),
        "stale": (body, sign(stand_in.key, body, now - 600)),
        "future": (body, sign(stand_in.key, body, now + 600)),
        "unsigned": (body, {"content-type": "application/json"}),
    }
    for what, (content, headers) in attempts.items():
        answer = post(stack.base, content, headers)
        assert answer.status_code == 401, (what, answer.text)
    replayed = json.dumps(call.events["call.answered"]).encode()
    answer = post(stack.base, replayed, sign(stand_in.key, replayed))
    assert answer.status_code == 200 and answer.json()["changed"] is False, answer.text
    assert stack.http.get(f"/api/dials/{dial_id}").json()["status"] == "in-progress"
    assert its_events() == before


def check_replays(stack: Any, stand_in: TelnyxStandIn, job: dict[str, Any]) -> None:
    """After the job: a genuine hangup delivered again, or one of another cause for a
    dial that ended, is acknowledged and changes nothing."""
    before = read_all(stack.http, f"{job_url(job)}/events")
    first = stand_in.calls_to(N[0])[0]
    again = json.dumps(first.events["call.hangup"]).encode()
    held = stand_in.calls_to(HELD)[0]
    other = json.loads(json.dumps(held.events["call.hangup"]))
    other["data"]["payload"]["hangup_cause"] = "user_busy"
    other_body = json.dumps(other).encode()
    for body in (again, other_body):
        answer = post(stack.base, body, sign(stand_in.key, body))
        assert answer.status_code == 200 and answer.json()["changed"] is False, answer.text
    assert read_all(stack.http, f"{job_url(job)}/events") == before


def check_dial_route(
    http: httpx.Client, env: dict[str, str], last: dict[str, dict[str, Any]], job_id: str
) -> None:
    """``GET /api/dials/{dialId}``: the dial with its inputs, 404 for another workspace."""
    dial = last[N[3]]
    body = check_dial_view(http, env, dial, ROWS[3]["inputs"])
    assert (body["callAgentId"], body["jobId"], body["toNumber"], body["status"]) == (
        "agent-1",
        job_id,
        N[3],
        "completed",
    )
