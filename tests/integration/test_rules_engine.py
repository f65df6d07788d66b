"""Issue 19 in the engine (real dramatiq worker threads; fakeredis and real Redis):
us-tcpa holds the rows the law does not allow now and says which rule and until when,
Florida's 3 calls per 24 h, consent traced into every dial, and the callerId rules
under the per-number limits."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest

from domain.dials import DialRef
from domain.errors import Conflict, InvalidInput
from domain.pagination import collect
from domain.rules.tcpa import state_for_number, state_rule
from domain.time.zones import zones_for_number
from domain.verdicts import MachineVerdicts
from producer.dialview import read_dial
from tests.support.engine import CountingDialer, HangingDialer, RecordingOutbox, Rig, ScriptedDialer
from tests.support.tcpa_oracle import allowed, next_allowed
from tests.support.waits import wait_for
from worker.dialers.simulated import SimulatedDialer
from worker.engine.core import Engine
from worker.engine.timing import Timing

WRITTEN = {"type": "express_written", "capturedAt": "2026-11-30T10:00:00Z", "source": "web-form"}
#: Numbers of several zones and states: New York, Honolulu, Anchorage, Miami, Dallas,
#: Birmingham (Alabama), Providence, Salt Lake City, Los Angeles.
NATURAL = ["+12125550111", "+18085550112", "+19075550113", "+13055550114", "+12145550115",
           "+12055550116", "+14015550117", "+18015550118", "+13105550119"]  # fmt: skip


NOON, NIGHT = {11, 12, 13, 14}, {22, 23, 0, 1, 2, 3, 4, 5, 6}


def queue(rig: Rig, ws: dict[str, Any], job_id: str) -> list[dict[str, Any]]:
    return collect(lambda **kw: rig.producer.queue(ws["workspaceId"], job_id, **kw))


def zone_at(local_hours: set[int], now: datetime) -> str:
    """An IANA zone whose local hour now is one of ``local_hours``."""
    for name in sorted(available_timezones()):
        if not name.startswith(("America/", "Europe/", "Asia/", "Pacific/", "Africa/", "Etc/")):
            continue
        if now.astimezone(ZoneInfo(name)).hour in local_hours:
            return name
    raise AssertionError("no zone")


def stable(number: str, zones: list[str], now: datetime) -> bool:
    """Whether the law's answer for the row stays the same over the next two minutes."""
    state = state_for_number(number)
    return len({allowed(now + timedelta(seconds=s), zones, state) for s in (0, 60, 120)}) == 1


def test_us_tcpa_dials_only_rows_the_law_allows_now(rig: Rig) -> None:
    """Rows across zones and states (and two whose timezone puts them at noon and at 3 a.m.):
    exactly the rows the table allows now are dialed, each inside the law's hours; the others
    wait with waitingFor callingRules, the rule that holds them and the first allowed instant;
    every dial.started and dial carry the row's consent."""
    now = datetime.now(UTC)
    noon, night = zone_at(NOON, now), zone_at(NIGHT, now)
    rows: list[dict[str, Any]] = [
        {"toNumber": "+13055550201", "timezone": noon, "consent": WRITTEN},
        {"toNumber": "+13055550202", "timezone": night, "consent": WRITTEN},
    ]
    zones_of = {"+13055550201": [noon], "+13055550202": [night]}
    for number in NATURAL:
        zones = list(zones_for_number(number))
        if stable(number, zones, now):
            rows.append({"toNumber": number, "consent": WRITTEN})
            zones_of[number] = zones
    expect = {
        r["toNumber"]
        for r in rows
        if allowed(now, zones_of[r["toNumber"]], state_for_number(r["toNumber"]))
    }
    assert "+13055550201" in expect and "+13055550202" not in expect
    ws = rig.workspace()
    rig.worker(ScriptedDialer({}))
    job_id = rig.job(ws, rows, 3, callingRules="us-tcpa", purpose="telemarketing")
    rig.start(ws, job_id)
    wait_for(lambda: len(rig.dials(ws, job_id)) >= len(expect), 20, "dials")
    wait_for(lambda: len(queue(rig, ws, job_id)) == len(rows) - len(expect), 10, "queue")
    dials = rig.dials(ws, job_id)
    assert {d["toNumber"] for d in dials} == expect
    for d in dials:
        started = datetime.fromisoformat(d["startedAt"])
        assert allowed(started, zones_of[d["toNumber"]], state_for_number(d["toNumber"])), d
        assert d["consent"] == WRITTEN
        assert d["callerIdRule"] == "spread"
    started_events = [e for e in rig.events(ws, job_id) if e["type"] == "dial.started"]
    assert len(started_events) == len(dials)
    assert all(e["consent"] == WRITTEN and e["callerIdRule"] == "spread" for e in started_events)
    for q in queue(rig, ws, job_id):
        number = q["toNumber"]
        state = state_for_number(number)
        assert q["waitingFor"] == "callingRules", q
        assert q["heldBy"].startswith(f"us-tcpa {state_rule(state).state or 'federal'} ("), q
        assert q["consent"] == WRITTEN
        opens = next_allowed(now, zones_of[number], state)
        assert opens is not None
        assert abs(datetime.fromisoformat(q["nextEligibleAt"]) - opens) < timedelta(minutes=3)
        assert allowed(datetime.fromisoformat(q["nextEligibleAt"]), zones_of[number], state)


def test_florida_numbers_get_three_calls_in_24_hours(rig: Rig) -> None:
    """A Florida row retried on no-answer up to 6 times is called 3 times, then held by
    the state's rule (row.frequency_capped names it) for a day; a New York row is not."""
    now = datetime.now(UTC)
    noon = zone_at(NOON, now)
    fl, ny = "+13055550301", "+12125550302"
    ws = rig.workspace()
    dialer = ScriptedDialer({}, default="no-answer")
    rig.worker(dialer)
    retry = {"maxAttempts": 6, "on": ["no-answer"], "backoffSeconds": [0]}
    rows = [{"toNumber": fl, "timezone": noon}, {"toNumber": ny, "timezone": noon}]
    job_id = rig.job(ws, rows, 2, callingRules="us-tcpa", retry=retry)
    rig.start(ws, job_id)
    wait_for(lambda: dialer.numbers()[ny] == 6, 30, "six calls to New York")
    wait_for(lambda: len(queue(rig, ws, job_id)) == 1, 10, "Florida held")
    assert dialer.numbers() == Counter({fl: 3, ny: 6})
    (held,) = queue(rig, ws, job_id)
    assert held["toNumber"] == fl and held["waitingFor"] == "callingRules"
    assert held["heldBy"].startswith("us-tcpa FL (Fla. Stat. 501.616")
    capped = [e for e in rig.events(ws, job_id) if e["type"] == "row.frequency_capped"]
    assert [e["rule"] for e in capped] == ["us-tcpa FL"]
    first = min(
        datetime.fromisoformat(d["startedAt"]) for d in rig.dials(ws, job_id) if d["toNumber"] == fl
    )
    retry_at = datetime.fromisoformat(capped[0]["retryAt"]).timestamp()
    assert abs(retry_at - (first + timedelta(days=1)).timestamp()) < 1


POOL = ("+12125550100", "+13055550100", "+17185550100", "+14155550100")


def test_local_caller_id_prefers_area_code_then_state_under_the_limits(rig: Rig) -> None:
    """Pool of New York 212 and 718, Miami 305 and San Francisco 415, one call each at a
    time: a 305 recipient is called from 305 when it is free, a 917 (New York) recipient
    from 212 or 718, a Seattle one from any; no number ever carries two calls."""
    ws = rig.workspace(dial_limit=10, per_number=1, numbers=POOL)
    dialer = CountingDialer(call_seconds=0.3)
    rig.worker(dialer)
    numbers = ["+19175550401", "+19175550402"] + [f"+1305555041{i}" for i in range(4)]
    numbers += ["+12065550420", "+12065550421"]
    job_id = rig.job(ws, [{"toNumber": n} for n in numbers], 4, callerId="local")
    rig.start(ws, job_id)
    rig.wait_status(ws, job_id, "COMPLETE", timeout=30)
    assert max(dialer.peak_by_number.values()) == 1
    dials = rig.dials(ws, job_id)
    assert len(dials) == len(numbers)
    rules = Counter(d["callerIdRule"] for d in dials)
    assert rules["local:areaCode"] >= 1 and rules["local:state"] >= 1, rules
    for d in dials:
        to, frm = d["toNumber"], d["fromNumber"]
        if d["callerIdRule"] == "local:areaCode":
            assert to[:5] == frm[:5], d
        elif d["callerIdRule"] == "local:state":
            assert to[:5] != frm[:5] and state_for_number(to) == state_for_number(frm), d
        else:
            assert d["callerIdRule"] == "local:spread", d
    events = [e for e in rig.events(ws, job_id) if e["type"] == "dial.started"]
    assert Counter(e["callerIdRule"] for e in events) == rules


def test_sticky_caller_id_keeps_a_recipient_on_one_number_across_retries_and_jobs(rig: Rig) -> None:
    """A recipient retried once and then called by a second job gets the same pool number
    every time (sticky:new the first time, then sticky), while others spread."""
    ws = rig.workspace(dial_limit=10, per_number=5, numbers=POOL)
    x = "+13125550501"
    dialer = ScriptedDialer({x: ["no-answer", "completed"]})
    rig.worker(dialer)
    retry = {"maxAttempts": 2, "on": ["no-answer"], "backoffSeconds": [0]}
    others = [{"toNumber": f"+1646555051{i}"} for i in range(6)]
    first = rig.job(ws, [{"toNumber": x}, *others], 3, callerId="sticky", retry=retry)
    rig.start(ws, first)
    rig.wait_status(ws, first, "COMPLETE")
    second = rig.job(ws, [*others[:3], {"toNumber": x}], 3, callerId="sticky")
    rig.start(ws, second)
    rig.wait_status(ws, second, "COMPLETE")
    mine = sorted(
        (d for job in (first, second) for d in rig.dials(ws, job) if d["toNumber"] == x),
        key=lambda d: d["startedAt"],
    )
    assert len(mine) == 3
    assert len({d["fromNumber"] for d in mine}) == 1
    assert [d["callerIdRule"] for d in mine] == ["sticky:new", "sticky", "sticky"]
    spread = {d["fromNumber"] for d in rig.dials(ws, first) if d["toNumber"] != x}
    assert len(spread) > 1


def test_a_leave_message_agent_reads_the_machine_verdict_in_its_dial(rig: Rig) -> None:
    """GET /api/dials/{id} (read_dial) tells the agent of a leave_message job that the
    carrier detected a machine, and carries the row's consent and the caller-ID rule."""
    ws = rig.workspace()
    wid = ws["workspaceId"]
    row = {"toNumber": "+12125550701", "consent": WRITTEN}
    job_id = rig.job(ws, [row], 1, voicemail={"action": "leave_message"}, callerId="sticky")
    rig.start(ws, job_id)
    dialer = HangingDialer(handoff=True)
    engine = Engine(rig.client, rig.producer.keys, dialer, RecordingOutbox(), Timing())
    engine.pump(wid, job_id)
    assert engine.dial(wid, job_id, 0) == "ok"
    dial_id = dialer.requests[0].dial_id
    before = read_dial(rig.client, rig.producer.keys, wid, dial_id)
    assert (before["voicemail"], before["answeredBy"]) == ("leave_message", None)
    assert before["consent"] == WRITTEN and before["callerIdRule"] == "sticky:new"
    number_id = rig.client.hget(rig.producer.keys.dial(wid, dial_id), "fromNumberId")
    ref = DialRef(wid, job_id, dial_id, str(number_id))
    assert MachineVerdicts(rig.client, rig.producer.keys).remember(ref, "machine")
    assert read_dial(rig.client, rig.producer.keys, wid, dial_id)["answeredBy"] == "machine"


def test_voicemail_with_the_simulated_dialer(rig: Rig) -> None:
    """The simulated dialer's voicemail outcome: `hangup` ends the row as voicemail,
    `retry` (retry.on names voicemail) tries it again up to maxAttempts."""
    ws = rig.workspace()
    rig.worker(SimulatedDialer(0, {"voicemail": 1.0}))
    hangup = rig.job(ws, [{"toNumber": "+12125550801"}], 1, voicemail={"action": "hangup"})
    retry = {"maxAttempts": 3, "on": ["voicemail"], "backoffSeconds": [0]}
    again = rig.job(
        ws, [{"toNumber": "+12125550802"}], 1, voicemail={"action": "retry"}, retry=retry
    )
    for job_id in (hangup, again):
        rig.start(ws, job_id)
        rig.wait_status(ws, job_id, "COMPLETE")
    assert [d["status"] for d in rig.dials(ws, hangup)] == ["voicemail"]
    assert [d["status"] for d in rig.dials(ws, again)] == ["voicemail"] * 3
    outcomes = rig.producer.get_job(ws["workspaceId"], again)["counts"]["outcomes"]
    assert outcomes == {"voicemail": 1}


def test_a_resting_number_is_never_chosen(rig: Rig) -> None:
    """A number rested by hand carries no new dial (with spread and with sticky); restored,
    it is used again."""
    ws = rig.workspace(dial_limit=10, per_number=5, numbers=POOL[:2])
    wid = ws["workspaceId"]
    first, second = (n["id"] for n in ws["phoneNumbers"])
    rig.producer.numbers.update(wid, first, {"resting": True})
    dialer = ScriptedDialer({})
    rig.worker(dialer)
    rows = [{"toNumber": f"+1646555090{i}"} for i in range(6)]
    job_id = rig.job(ws, rows, 3, callerId="sticky")
    rig.start(ws, job_id)
    rig.wait_status(ws, job_id, "COMPLETE")
    assert {d["fromNumber"] for d in rig.dials(ws, job_id)} == {POOL[1]}
    rig.producer.numbers.update(wid, first, {"resting": False})
    rig.producer.numbers.update(wid, second, {"resting": True})
    again = rig.job(ws, rows[:3], 3, callerId="sticky")
    rig.start(ws, again)
    rig.wait_status(ws, again, "COMPLETE")
    assert {d["fromNumber"] for d in rig.dials(ws, again)} == {POOL[0]}
    assert {d["callerIdRule"] for d in rig.dials(ws, again)} == {"sticky:new"}


def test_inbound_reserve_holds_under_two_jobs_whose_caps_add_up_past_it(rig: Rig) -> None:
    """Dial limit 6 with 2 reserved: two jobs of cap 3 (6 together) never have more than 4
    calls at once; a job cap above 4 is refused at create, and a reserve that leaves an
    unfinished job's cap no room is refused, naming the job."""
    ws = rig.workspace(dial_limit=6, per_number=6)
    wid = ws["workspaceId"]
    rig.producer.update_workspace(wid, {"reservedInboundDials": 2})
    assert rig.producer.get_workspace(wid)["reservedInboundDials"] == 2
    with pytest.raises(InvalidInput, match="less reservedInboundDials 2"):
        rig.job(ws, 2, 5)
    dialer = CountingDialer(call_seconds=0.3)
    rig.worker(dialer, threads=8)
    jobs = [rig.job(ws, [{"toNumber": f"+1646555{j}{i:03d}"} for i in range(8)], 3) for j in (1, 2)]
    for job_id in jobs:
        rig.start(ws, job_id)
    for job_id in jobs:
        rig.wait_status(ws, job_id, "COMPLETE", timeout=30)
    assert 2 <= dialer.peak <= 4, dialer.peak
    rig.producer.update_workspace(wid, {"reservedInboundDials": 4})  # finished jobs: no check
    rig.job(ws, 2, 2)
    with pytest.raises(Conflict, match="maxConcurrentDials 2"):
        rig.producer.update_workspace(wid, {"reservedInboundDials": 5})
