"""Issue 7 in the engine (real dramatiq worker threads, fakeredis and real Redis):
retries per outcome, suppression (listed and opted-out), the per-number daily cap,
and recipient-local hours with their queue reasons."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from domain.pagination import collect
from tests.support.engine import CountingDialer, HangingDialer, Rig, ScriptedDialer
from tests.support.waits import wait_for
from worker.engine.timing import Timing

A, B, C = "+12125550001", "+12125550002", "+12125550003"


def rows(*numbers: str) -> list[dict[str, Any]]:
    return [{"toNumber": n} for n in numbers]


def job_with(rig: Rig, ws: dict[str, Any], numbers: list[str], **extra: Any) -> str:
    return rig.job(ws, rows(*numbers), 3, **extra)


def test_retries_follow_the_policy_and_the_last_attempt_is_the_outcome(rig: Rig) -> None:
    """busy, busy, completed for A; no-answer x3 for B (max 3); failed for C is not in
    `on`. Each retry has a new dial id, attempt + 1 and a row.retry_scheduled event."""
    ws = rig.workspace()
    dialer = ScriptedDialer({A: ["busy", "busy", "completed"], B: ["no-answer"] * 5, C: ["failed"]})
    rig.worker(dialer)
    retry = {"maxAttempts": 3, "on": ["busy", "no-answer"], "backoffSeconds": [0, 1]}
    job_id = job_with(rig, ws, [A, B, C], retry=retry)
    rig.start(ws, job_id)
    rig.wait_status(ws, job_id, "COMPLETE", timeout=30)

    assert dialer.numbers() == Counter({A: 3, B: 3, C: 1})
    dials = rig.dials(ws, job_id)
    assert len({d["dialId"] for d in dials}) == 7
    by_row: dict[str, list[dict[str, Any]]] = {}
    for d in sorted(dials, key=lambda d: d["attempt"]):
        by_row.setdefault(d["toNumber"], []).append(d)
    assert [d["attempt"] for d in by_row[A]] == [1, 2, 3]
    assert [d["status"] for d in by_row[A]] == ["busy", "busy", "completed"]
    events = rig.events(ws, job_id)
    scheduled = [e for e in events if e["type"] == "row.retry_scheduled"]
    assert len(scheduled) == 4
    assert sorted(e["attempt"] for e in scheduled) == [2, 2, 3, 3]
    # The second retry waits backoffSeconds[1] = 1 s after the second attempt ended.
    ends = {e["dialId"]: e for e in events if e["type"] == "dial.finished"}
    for e in scheduled:
        ended_ms = datetime.fromisoformat(ends[e["dialId"]]["at"]).timestamp() * 1000
        wait_ms = 0 if e["attempt"] == 2 else 1000
        retry_ms = datetime.fromisoformat(e["retryAt"]).timestamp() * 1000
        # The script's one instant: the end, its event and the retry's base (no clock
        # read between them, on real Redis or the embedded one).
        assert retry_ms - ended_ms == wait_ms
    for d in dials:
        assert ends[d["dialId"]]["at"] == d["endedAt"]
    job = rig.producer.get_job(ws["workspaceId"], job_id)
    assert job["counts"]["finished"] == 3
    assert job["counts"]["outcomes"] == {"completed": 1, "no-answer": 1, "failed": 1}
    assert job["counts"]["byStatus"] == {"busy": 2, "completed": 1, "no-answer": 3, "failed": 1}
    # No attempt starts before its backoff is over.
    started = {e["dialId"]: e["at"] for e in events if e["type"] == "dial.started"}
    for row_dials in by_row.values():
        for prev, nxt in pairwise(row_dials):
            sched = next(s for s in scheduled if s["dialId"] == prev["dialId"])
            nxt_ms = datetime.fromisoformat(started[nxt["dialId"]]).timestamp() * 1000
            assert nxt_ms >= datetime.fromisoformat(sched["retryAt"]).timestamp() * 1000 - 1


def test_suppressed_numbers_are_skipped_with_an_event(rig: Rig) -> None:
    """A suppressed number is not dialed: its row ends suppressed with a row.suppressed event."""
    ws = rig.workspace()
    rig.producer.add_suppressions(ws["workspaceId"], [B], "asked not to be called")
    dialer = ScriptedDialer({})
    rig.worker(dialer)
    job_id = job_with(rig, ws, [A, B, C])
    rig.start(ws, job_id)
    rig.wait_status(ws, job_id, "COMPLETE", timeout=30)
    assert dialer.numbers() == Counter({A: 1, C: 1})
    events = rig.events(ws, job_id)
    skipped = [e for e in events if e["type"] == "row.suppressed"]
    assert [e["rowId"] for e in skipped] == [f"{job_id}.1"]
    job = rig.producer.get_job(ws["workspaceId"], job_id)
    assert job["counts"]["outcomes"] == {"completed": 2, "suppressed": 1}
    assert job["counts"]["finished"] == 3


def test_opted_out_suppresses_the_number_for_later_jobs(rig: Rig) -> None:
    """An opted-out call puts its number on the suppression list (audited), so a later job does not
    dial it."""
    ws = rig.workspace()
    dialer = ScriptedDialer({A: ["opted-out"]})
    rig.worker(dialer)
    first = job_with(rig, ws, [A, B])
    rig.start(ws, first)
    rig.wait_status(ws, first, "COMPLETE", timeout=30)
    audit = [e for e in rig.events(ws, first) if e["type"] == "suppression.added"]
    assert len(audit) == 1 and audit[0]["toNumber"] == A and audit[0]["source"] == "opted-out"
    listed = collect(lambda **kw: rig.producer.list_suppressions(ws["workspaceId"], **kw))
    assert [s["number"] for s in listed] == [A]
    assert listed[0]["source"] == "opted-out"

    second = job_with(rig, ws, [A, C])
    rig.start(ws, second)
    rig.wait_status(ws, second, "COMPLETE", timeout=30)
    assert dialer.numbers() == Counter({A: 1, B: 1, C: 1})


def test_a_number_is_not_called_more_than_the_daily_cap(rig: Rig) -> None:
    """With maxCallsPerNumberPerDay = 1 a second job's row for the same number waits
    (frequencyCap, until the first call is a day old) while its other rows go on."""
    ws = rig.workspace()
    rig.producer.update_workspace(ws["workspaceId"], {"maxCallsPerNumberPerDay": 1})
    dialer = ScriptedDialer({})
    rig.worker(dialer)
    first = job_with(rig, ws, [A])
    rig.start(ws, first)
    rig.wait_status(ws, first, "COMPLETE", timeout=30)
    first_call = rig.dials(ws, first)[0]

    second = job_with(rig, ws, [A, B])
    rig.start(ws, second)
    wait_for(lambda: dialer.numbers()[B] == 1, 30, "B dialed")
    wait_for(
        lambda: rig.producer.get_job(ws["workspaceId"], second)["counts"]["held"] == 1, 10, "held"
    )
    assert dialer.numbers()[A] == 1
    queue = rig.producer.queue(ws["workspaceId"], second).data
    assert [(q["toNumber"], q["waitingFor"]) for q in queue] == [(A, "frequencyCap")]
    due = datetime.fromisoformat(first_call["startedAt"]) + timedelta(days=1)
    assert datetime.fromisoformat(queue[0]["nextEligibleAt"]) == due
    assert rig.status(ws, second) == "ACTIVE"
    capped = [e for e in rig.events(ws, second) if e["type"] == "row.frequency_capped"]
    assert len(capped) == 1
    # Cancelling releases the held row as cancelled.
    rig.producer.cancel_job(ws["workspaceId"], second)
    job = rig.producer.get_job(ws["workspaceId"], second)
    assert job["counts"]["cancelled"] == 1 and job["counts"]["queued"] == 0


def _home_zone(now: datetime) -> str:
    """Where the in-hours row of the next test is: New York, or Los Angeles late in New
    York's evening. Hours chosen around now then end at least an hour before midnight, so
    that a dial a moment after a run started near midnight is still inside them."""
    ny = now.astimezone(ZoneInfo("America/New_York"))
    return "America/New_York" if ny.hour * 60 + ny.minute <= 1260 else "America/Los_Angeles"


def test_recipient_hours_hold_only_the_rows_outside_them(rig: Rig) -> None:
    """Rows in New York (inside 08:00-21:00-like hours chosen around now) are dialed;
    rows whose explicit timezone is 12 hours away wait with recipientHours and the
    true next opening; nothing blocks the in-hours rows behind them."""
    ws = rig.workspace()
    now = datetime.now(UTC)
    home = _home_zone(now)
    local_now = now.astimezone(ZoneInfo(home))
    minute = local_now.hour * 60 + local_now.minute
    start = max(0, minute - 60)
    end = min(1440, minute + 120)
    hours = {
        "startTime": f"{start // 60:02d}:{start % 60:02d}",
        "endTime": "24:00" if end == 1440 else f"{end // 60:02d}:{end % 60:02d}",
    }
    far = "Asia/Kathmandu"  # 10-14 hours from home: outside a 3-hour window
    body_rows = [
        {"toNumber": B, "timezone": far},
        {"toNumber": A} if home == "America/New_York" else {"toNumber": A, "timezone": home},
        {"toNumber": C, "timezone": far},
    ]
    dialer = ScriptedDialer({})
    rig.worker(dialer)
    body = {
        "name": "hours",
        "callAgentId": "agent",
        "maxConcurrentDials": 3,
        "fromPhoneNumberIds": [p["id"] for p in ws["phoneNumbers"]],
        "recipientHours": hours,
        "rows": body_rows,
    }
    job_id = str(rig.producer.create_job(ws["workspaceId"], body)["id"])
    rig.start(ws, job_id)
    wait_for(lambda: dialer.numbers()[A] == 1, 30, "A dialed")
    queue = rig.producer.queue(ws["workspaceId"], job_id).data
    assert [q["toNumber"] for q in queue] == [B, C]
    for q in queue:
        assert q["waitingFor"] == "recipientHours"
        assert q["timezones"] == [far] and q["timezoneSource"] == "row"
        opens = datetime.fromisoformat(q["nextEligibleAt"])
        local = opens.astimezone(ZoneInfo(far))
        assert local.hour * 60 + local.minute == start
        assert opens > now
    assert dialer.numbers()[B] == 0
    assert rig.status(ws, job_id) == "ACTIVE"


def test_a_worker_added_mid_job_gets_a_share_of_the_calls(rig: Rig) -> None:
    """Freed slots are refilled by the process that saw the call end; once a second
    worker process is alive, the first sends what is over its share (cap / workers)
    to the broker, so the newcomer takes calls instead of idling.

    200 rows at 8 calls of 0.3 s last 7.5 s whoever dials them: long enough that a
    newcomer slow to start (a loaded machine) still finds rows left to take."""
    ws = rig.workspace()
    first, second = CountingDialer(0.3), CountingDialer(0.3)
    rig.worker(first, threads=4)
    job_id = rig.job(ws, rows=200, cap=8)
    rig.start(ws, job_id)
    wait_for(lambda: first.live == 8, 10, "the first worker to hold the cap")
    rig.worker(second, threads=4)
    wait_for(lambda: len(second.requests) >= 8, 20, "the second worker to take calls")
    rig.wait_status(ws, job_id, "COMPLETE", timeout=60)
    assert len(first.requests) + len(second.requests) == 200
    assert max(first.peak, second.peak) <= 8


def test_a_dial_with_an_unknown_outcome_is_not_retried(rig: Rig) -> None:
    """A dial the reaper ends (lease_expired: its worker died mid-call) may have reached
    the person, so a retry policy on `failed` does not call them again; a plain
    `failed` from the dialer is retried."""
    ws = rig.workspace()
    retry = {"maxAttempts": 3, "on": ["failed"], "backoffSeconds": [0]}
    job_id = job_with(rig, ws, [A], retry=retry)
    engine, _ = rig.engine(HangingDialer(), Timing(lease_ms=1500))
    rig.start(ws, job_id)
    engine.pump(ws["workspaceId"], job_id)
    assert engine.dial(ws["workspaceId"], job_id, 0) == "ok"
    engine.keeper.forget(engine.keeper.held()[0].dial_id)  # its process "died"
    wait_for(lambda: engine.reap() == 1, 5, "the lease to lapse")
    assert rig.status(ws, job_id) == "COMPLETE"
    assert not [e for e in rig.events(ws, job_id) if e["type"] == "row.retry_scheduled"]
    assert rig.producer.get_job(ws["workspaceId"], job_id)["counts"]["outcomes"] == {"failed": 1}

    dialer = ScriptedDialer({B: ["failed", "completed"]})
    rig.worker(dialer)
    second = job_with(rig, ws, [B], retry=retry)
    rig.start(ws, second)
    rig.wait_status(ws, second, "COMPLETE", timeout=30)
    assert dialer.numbers() == Counter({B: 2})
