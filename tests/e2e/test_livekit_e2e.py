"""A whole job through a real API and a real worker with ``BATCHDIAL_DIALER=livekit``
against the stand-in LiveKit (tests/support/livekit_api.py): every row called once, the
caps and the pool spread measured at the stand-in, every outcome mapped (from
CreateSIPParticipant's answer and from the webhooks), the agent dispatched with the
dial's inputs, forged/expired/altered webhooks refused with nothing changed and replays
changing nothing, lost answers reconciled without a second call, 429s backed off with
no failed dial, voicemail refused, and ``GET /api/dials/{dialId}`` for the agent."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import redis
from livekit.protocol import models

from domain.dials import DialEnds
from domain.keys import Keys
from domain.livekit_calls import dial_id_of_room, room_name
from tests.support.bodies import rows_of
from tests.support.http import check_dial_view, job_url, read_all
from tests.support.livekit_api import (
    API_KEY,
    API_SECRET,
    PUBLIC_URL,
    TRUNK_ID,
    WEBHOOK_PATH,
    Call,
    LiveKitStandIn,
    serve,
    webhook_token,
)
from tests.support.livekit_sip import Script
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory
from tests.support.waits import wait_for, wait_until

CAP = 3
ROWS = rows_of(13)
N = [row["toNumber"] for row in ROWS]
ADOPTED = N[9]  # the answer is lost once the callee picked up: found in the room
UNKNOWN = N[10]  # the answer is lost and the room cannot be listed
HELD = N[11]  # stays answered until the test has tried its forgeries
RINGING = N[12]  # the answer is lost while it rings: adopted, then nobody picks up
#: What each row's call does at the stand-in (rows not named: answered, then hung up).
SCRIPTS = {
    N[0]: Script(replay=("participant_joined", "participant_left")),  # delivered twice
    N[4]: Script(outcome="sip", sip_code=486),
    N[5]: Script(outcome="ring_timeout"),
    N[6]: Script(outcome="sip", sip_code=603),
    N[7]: Script(outcome="sip", sip_code=503),  # the trunk's carrier fails
    N[8]: Script(outcome="sip", sip_code=404),
    ADOPTED: Script(drop="answered", talk_s=3.0),
    UNKNOWN: Script(drop="answered", hold=True),
    HELD: Script(hold=True),
    RINGING: Script(drop="ringing", outcome="ring_timeout", ring_s=3.0),
}
EXPECTED = {
    **dict.fromkeys(N, "completed"),
    N[4]: "busy",
    N[5]: "no-answer",
    N[6]: "busy",
    N[7]: "failed",
    N[8]: "failed",
    UNKNOWN: "failed",
    RINGING: "no-answer",
}


def test_a_whole_job_through_the_livekit_dialer(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Given the stand-in LiveKit and a job of 13 rows (cap 3, one call per pool number at
    a time), when it runs, then every row is called once, never above the caps, each
    outcome ends its dial as the table says, the agent gets the dial's inputs, forged
    webhooks change nothing, the lost answers are adopted or fail as placement_unknown
    (never called twice), and the 429s leave no failed dial."""
    stand_in = LiveKitStandIn(SCRIPTS)
    stand_in.rate_limit_first = 2
    stand_in.list_fails = set()
    with serve(stand_in) as url:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="livekit",
            BATCHDIAL_PUBLIC_URL=PUBLIC_URL,
            BATCHDIAL_LIVEKIT_URL=url.replace("http://", "ws://"),  # ws -> http for the API
            BATCHDIAL_LIVEKIT_API_KEY=API_KEY,
            BATCHDIAL_LIVEKIT_API_SECRET=API_SECRET,
            BATCHDIAL_LIVEKIT_SIP_TRUNK_ID=TRUNK_ID,
            BATCHDIAL_LIVEKIT_RINGING_TIMEOUT_SECONDS="5",
            BATCHDIAL_DIALER_TIMEOUT_SECONDS="5",
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        stack = start_stack(env, threads=4, dial_limit=10, per_number=1)
        stand_in.api_base = stack.base
        refused = stack.http.post(
            "/api/batch_dial_jobs", json=stack.body(ROWS, CAP, voicemail={"action": "hangup"})
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"][0]["path"] == "voicemail"
        job = stack.create_job(ROWS, CAP)
        # The room of the unknown call cannot be listed; its name holds the dial id,
        # which the stand-in learns when the call is made.
        stand_in.list_fails = _RoomsOf(stand_in, UNKNOWN)
        stack.start(job)

        held = wait_until(
            lambda: next((c for c in stand_in.calls_to(HELD) if c.state == "active"), None),
            60,
            "the held call to be answered",
        )
        dial_id = dial_id_of_room(held.room)
        assert dial_id is not None
        wait_for(
            lambda: stack.http.get(f"/api/dials/{dial_id}").json()["status"] == "in-progress",
            30,
            "the held dial to be in progress",
        )
        check_forgeries(stack.base, stand_in, held)
        assert stack.http.get(f"/api/dials/{dial_id}").json()["status"] == "in-progress"
        stand_in.release(HELD)

        stack.wait_status(job, "COMPLETE", 90)
        wait_for(stand_in.settled, 30, "every room to close and its webhooks to be delivered")
        url_ = job_url(job)
        dials = read_all(stack.http, f"{url_}/dials")
        events = read_all(stack.http, f"{url_}/events")

        # Every row called once: no second call after a lost answer; the rate-limited
        # requests made no call (their rows were dialed again, as new dials).
        assert stand_in.calls_per_number() == dict.fromkeys(N, 1)
        assert sum(stand_in.rate_limited.values()) == 2
        assert sum(stand_in.sip_requests.values()) == len(N) + 2
        # Caps measured at the stand-in: the job's cap, one call per pool number.
        assert 1 <= stand_in.peak <= CAP, stand_in.peak
        assert max(stand_in.peak_from.values()) == 1, stand_in.peak_from
        assert stand_in.open == 0  # every call ended, the unknown one by its room's deletion
        # Every outcome mapped (SPEC §4.7).
        last = {d["toNumber"]: d for d in dials}
        assert {n: last[n]["status"] for n in N} == EXPECTED
        assert len(dials) == len(N)  # withdrawn dials are not listed
        finished = {e["dialId"]: e for e in events if e["type"] == "dial.finished"}
        assert finished[last[UNKNOWN]["dialId"]]["reason"] == "placement_unknown"
        assert finished[last[N[4]]["dialId"]]["reason"] == "SIP 486 Busy Here"
        assert finished[last[N[5]]["dialId"]]["reason"] == "ringing_timeout"
        assert finished[last[N[7]]["dialId"]]["provider"]["sip_status_code"] == "503"
        ringing = finished[last[RINGING]["dialId"]]
        assert ringing["provider"]["disconnectReason"] == "USER_UNAVAILABLE"  # by webhook
        adopted = finished[last[ADOPTED]["dialId"]]
        assert adopted["provider"]["disconnectReason"] == "CLIENT_INITIATED"
        ends = DialEnds(real_redis, Keys(namespace))
        sid = stand_in.calls_to(ADOPTED)[0].participant.info.sid
        ref = ends.locate_call("livekit", sid)
        assert ref is not None and ref.dial_id == last[ADOPTED]["dialId"]
        # 429s: the row went back (dial.withdrawn), no dial failed for it.
        withdrawn = [e for e in events if e["type"] == "dial.withdrawn"]
        assert len(withdrawn) == 2 and {e["reason"] for e in withdrawn} == {"rate_limited"}
        assert not [e for e in finished.values() if e.get("reason") == "rate_limited"]
        # Progress as dial.status_changed, each once, despite the replayed webhooks.
        assert changes(events, last[N[0]]["dialId"]) == ["queued", "in-progress"]
        assert changes(events, last[RINGING]["dialId"]) == ["queued", "ringing"]
        assert len([e for e in events if e["type"] == "dial.finished"]) == len(N)
        # What the agent got: dispatched by callAgentId with {dialId, inputs}.
        check_dispatches(stand_in, dials)
        # Every webhook LiveKit sent was accepted in the end (some after a 503).
        assert not stand_in.errors, stand_in.errors
        assert {w[3] for w in stand_in.webhooks} == {200}
        check_replays(stack.base, stand_in, last)
        assert len(
            [e for e in read_all(stack.http, f"{url_}/events") if e["type"] == "dial.finished"]
        ) == len(N)
        check_dial_route(stack.http, env, last, job["id"])


class _RoomsOf(set[str]):
    """The rooms of the calls to one number (a set the stand-in reads as calls come)."""

    def __init__(self, stand_in: LiveKitStandIn, to: str) -> None:
        super().__init__()
        self.stand_in, self.to = stand_in, to

    def __contains__(self, room: object) -> bool:
        return any(c.room == room for c in self.stand_in.calls_to(self.to))


def changes(events: list[dict[str, Any]], dial_id: str) -> list[str]:
    return [
        e["to"] for e in events if e["type"] == "dial.status_changed" and e["dialId"] == dial_id
    ]


def post(base: str, body: bytes, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/webhook+json"}
    if token is not None:
        headers["Authorization"] = token
    return httpx.post(base + WEBHOOK_PATH, content=body, headers=headers, timeout=10)


def _left(stand_in: LiveKitStandIn, call: Call, reason: str) -> bytes:
    info = models.ParticipantInfo()
    info.CopyFrom(call.participant.info)
    info.disconnect_reason = models.DisconnectReason.Value(reason)  # type: ignore[assignment]
    return stand_in.event(stand_in.rooms[call.room], "participant_left", info)


def check_forgeries(base: str, stand_in: LiveKitStandIn, call: Call) -> None:
    """Webhooks not signed as LiveKit signs them are refused (401): the held call's end,
    forged every way; a genuine replay of its join changes nothing."""
    body = _left(stand_in, call, "USER_REJECTED")
    other = _left(stand_in, call, "CLIENT_INITIATED")
    now = time.time()
    attempts = {
        "wrong secret": (body, webhook_token(body, secret="x" * 40)),
        "wrong key": (body, webhook_token(body, api_key="APIother")),
        "expired": (body, webhook_token(body, now=now - 600)),
        "altered body": (body, webhook_token(other)),
        "no hash": (body, webhook_token(body, sha256="")),
        "no token": (body, None),
        "not a token": (body, "Bearer " + "x" * 40),
    }
    for what, (data, token) in attempts.items():
        answer = post(base, data, token)
        assert answer.status_code == 401, (what, answer.text)
    info = models.ParticipantInfo()
    info.CopyFrom(call.participant.info)
    info.attributes["sip.callStatus"] = "dialing"
    joined = stand_in.event(stand_in.rooms[call.room], "participant_joined", info)
    answer = post(base, joined, webhook_token(joined))
    assert answer.status_code == 200 and answer.json()["changed"] is False, answer.text
    # Not ours: another app's room, and a dial room whose dial is gone, are acknowledged.
    for name in ("support", room_name("dial_0_0_1_nothing")):
        other_room = json.dumps({"event": "room_finished", "room": {"name": name}}).encode()
        answer = post(base, other_room, webhook_token(other_room))
        assert answer.status_code == 200 and answer.json()["changed"] is False, answer.text


def check_replays(base: str, stand_in: LiveKitStandIn, last: dict[str, dict[str, Any]]) -> None:
    """After the end: a genuine end sent again changes nothing; an old capture is refused."""
    call = stand_in.calls_to(N[1])[0]
    body = _left(stand_in, call, "USER_REJECTED")
    answer = post(base, body, webhook_token(body))
    assert answer.status_code == 200 and answer.json()["changed"] is False, answer.text
    assert post(base, body, webhook_token(body, now=time.time() - 400)).status_code == 401
    assert last[N[1]]["status"] == "completed"


def check_dispatches(stand_in: LiveKitStandIn, dials: list[dict[str, Any]]) -> None:
    """Each call's room had the agent dispatched by callAgentId with {dialId, inputs}."""
    inputs = {row["toNumber"]: row["inputs"] for row in ROWS}
    by_room = {d["room"]: d for d in stand_in.dispatches}
    assert len(stand_in.dispatches) == len(N) + 2  # the rate-limited dials had rooms too
    ours = {d["dialId"] for d in dials}
    for call in stand_in.calls:
        dispatch = by_room[call.room]
        assert dispatch["agent_name"] == "agent-1"
        meta = json.loads(dispatch["metadata"])
        assert meta == {"dialId": dial_id_of_room(call.room), "inputs": inputs[call.to]}
        assert meta["dialId"] in ours
        assert call.body["sip_number"] in {
            d["fromNumber"] for d in dials if d["toNumber"] == call.to
        }
    still_open = {
        name: [p.info.identity for p in room.participants.values()]
        for name, room in stand_in.rooms.items()
        if not room.closed
    }
    assert not still_open  # every room closed in the end


def check_dial_route(
    http: httpx.Client, env: dict[str, str], last: dict[str, dict[str, Any]], job_id: str
) -> None:
    """``GET /api/dials/{dialId}``: the dial with its inputs, 404 for another workspace."""
    dial = last[N[3]]
    body = check_dial_view(http, env, dial, ROWS[3]["inputs"])
    assert (body["callAgentId"], body["jobId"], body["status"]) == ("agent-1", job_id, "completed")
