"""The engine in one process (real dramatiq worker threads) on fakeredis and on a real
Redis: caps, pool spread, windows, pause, cancel, duplicates, leases (SPEC §5)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.members import job_member
from domain.replay import peak_concurrency
from tests.support.engine import CountingDialer, HangingDialer, Rig
from tests.support.waits import wait_for
from worker.engine.timing import Timing

NUMBERS = ("+12125550100", "+13125550100", "+14155550100")


@pytest.fixture(autouse=True)
def _quiet_dramatiq() -> None:
    logging.getLogger("dramatiq").setLevel(logging.WARNING)


def test_every_row_is_dialed_once_within_the_caps(rig: Rig) -> None:
    """A job runs to COMPLETE: each row dialed once, never above the job cap or any
    number's limit, spread over the pool, with its story in the events."""
    ws = rig.workspace(dial_limit=10, per_number=2)
    job = rig.job(ws, rows=60, cap=5)
    dialer = CountingDialer(call_seconds=0.05)
    rig.worker(dialer)
    rig.start(ws, job)
    rig.wait_status(ws, job, "COMPLETE")
    assert dialer.peak <= 5
    assert max(dialer.peak_by_number.values()) <= 2
    rows = Counter(r.row_id for r in dialer.requests)
    assert len(rows) == 60 and set(rows.values()) == {1}
    per_number = Counter(r.from_number for r in dialer.requests)
    assert set(per_number) == set(NUMBERS)
    assert min(per_number.values()) >= 10, per_number
    events = rig.events(ws, job)
    types = Counter(e["type"] for e in events)
    assert types["dial.started"] == types["dial.finished"] == 60
    assert events[-1]["type"] == "job.completed"
    assert peak_concurrency(events) <= 5
    started = [e for e in events if e["type"] == "dial.started"]
    assert all(e["fromNumber"] in NUMBERS for e in started)
    job_view = rig.producer.get_job(ws["workspaceId"], job)
    assert job_view["counts"]["finished"] == 60
    assert job_view["counts"]["byStatus"] == {"completed": 60}
    assert rig.leases_left() == 0
    dials = rig.dials(ws, job)
    assert len(dials) == 60 and all(d["status"] == "completed" and d["endedAt"] for d in dials)


def test_workspace_limit_holds_across_jobs(rig: Rig) -> None:
    """Two jobs of one workspace never dial more together than the workspace's limit."""
    ws = rig.workspace(dial_limit=4)
    jobs = [rig.job(ws, rows=25, cap=4) for _ in range(2)]
    dialer = CountingDialer(call_seconds=0.05)
    rig.worker(dialer)
    for job in jobs:
        rig.start(ws, job)
    for job in jobs:
        rig.wait_status(ws, job, "COMPLETE")
    assert dialer.peak <= 4
    assert len(dialer.requests) == 50


def test_one_process_holds_200_calls_with_8_threads(real_rig: Rig) -> None:
    """Calls in progress hold leases, not threads: 8 threads keep 200 calls going."""
    rig = real_rig
    ws = rig.workspace(dial_limit=200)
    job = rig.job(ws, rows=400, cap=200)
    dialer = CountingDialer(call_seconds=3)
    rig.worker(dialer, threads=8)
    rig.start(ws, job)
    rig.wait_status(ws, job, "COMPLETE", timeout=60)
    assert dialer.peak == 200


def _closed_now() -> dict[str, Any]:
    today = (datetime.now(UTC).isoweekday()) % 7
    return {
        "days": [
            {
                "dayOfWeek": (today + 3) % 7,
                "timeSlots": [{"startTime": "09:00", "endTime": "10:00"}],
            }
        ],
        "timezone": "UTC",
    }


def test_nothing_is_dialed_while_the_window_is_closed(rig: Rig) -> None:
    """A started job whose window is closed dials nobody and sleeps until it opens."""
    ws = rig.workspace()
    job = rig.job(ws, rows=5, cap=2, schedule=_closed_now())
    dialer = CountingDialer(call_seconds=0.01)
    rig.worker(dialer)
    rig.start(ws, job)
    wait_for(
        lambda: any(e["type"] == "job.window_closed" for e in rig.events(ws, job)),
        10,
        "job.window_closed",
    )
    closed = next(e for e in rig.events(ws, job) if e["type"] == "job.window_closed")
    wake = rig.client.zscore(f"{rig.namespace}:wakeups", job_member(ws["workspaceId"], job))
    # ISO 8601 UTC, as every time of the API (issue 18: it was epoch ms).
    opens = datetime.fromisoformat(closed["nextOpenAt"])
    assert closed["nextOpenAt"].endswith("Z")
    assert wake == opens.timestamp() * 1000
    assert (opens.hour, opens.minute) == (9, 0)
    assert opens > datetime.now(UTC)
    assert dialer.requests == []
    assert rig.producer.get_job(ws["workspaceId"], job)["counts"]["queued"] == 5


def test_pause_stops_new_dials_at_once_and_resume_finishes(rig: Rig) -> None:
    """After job.paused no dial starts; calls in flight finish; resume completes the job."""
    ws = rig.workspace()
    job = rig.job(ws, rows=40, cap=3)
    dialer = CountingDialer(call_seconds=0.1)
    rig.worker(dialer)
    rig.start(ws, job)
    wait_for(lambda: len(dialer.requests) >= 6, 10, "some dials")
    rig.producer.set_paused(ws["workspaceId"], job, True)
    wait_for(lambda: dialer.live == 0, 5, "calls in flight to end")
    count = len(dialer.requests)
    wait_for(
        lambda: rig.producer.get_job(ws["workspaceId"], job)["counts"]["inProgress"] == 0,
        5,
        "in-progress to drain",
    )
    events = rig.events(ws, job)
    paused_at = [e["type"] for e in events].index("job.paused")
    assert "dial.started" not in [e["type"] for e in events[paused_at:]]
    assert len(dialer.requests) == count < 40
    rig.start(ws, job)
    rig.wait_status(ws, job, "COMPLETE")
    assert len({r.row_id for r in dialer.requests}) == len(dialer.requests) == 40


def test_cap_changed_while_paused_applies_on_resume(rig: Rig) -> None:
    """A cap staged while ACTIVE applies at pause, and holds after resume."""
    ws = rig.workspace()
    job = rig.job(ws, rows=30, cap=5)
    dialer = CountingDialer(call_seconds=0.1)
    rig.worker(dialer)
    rig.start(ws, job)
    rig.producer.update_job(ws["workspaceId"], job, {"maxConcurrentDials": 1})
    wait_for(lambda: len(dialer.requests) >= 5, 10, "some dials")
    rig.producer.set_paused(ws["workspaceId"], job, True)
    wait_for(lambda: dialer.live == 0, 5, "calls in flight to end")
    dialer.peak = 0
    rig.start(ws, job)
    rig.wait_status(ws, job, "COMPLETE")
    assert dialer.peak == 1


def test_cancel_stops_new_dials_and_counts_every_row(rig: Rig) -> None:
    """Cancel: no dial starts after job.cancelled; dials in flight are recorded; every
    row ends finished or cancelled."""
    ws = rig.workspace()
    job = rig.job(ws, rows=50, cap=4)
    dialer = CountingDialer(call_seconds=0.2)
    rig.worker(dialer)
    rig.start(ws, job)
    wait_for(lambda: len(dialer.requests) >= 4, 10, "some dials")
    rig.producer.cancel_job(ws["workspaceId"], job)
    wait_for(
        lambda: rig.producer.get_job(ws["workspaceId"], job)["counts"]["inProgress"] == 0,
        5,
        "calls in flight to end",
    )
    events = rig.events(ws, job)
    cancelled_at = [e["type"] for e in events].index("job.cancelled")
    assert "dial.started" not in [e["type"] for e in events[cancelled_at:]]
    counts = rig.producer.get_job(ws["workspaceId"], job)["counts"]
    assert counts["finished"] + counts["cancelled"] == 50
    assert counts["finished"] == len(dialer.requests)
    assert rig.status(ws, job) == "CANCELLED"
    assert rig.leases_left() == 0


def test_a_message_delivered_twice_dials_once(rig: Rig) -> None:
    """The same dial message run twice places one call; the second claims nothing."""
    ws = rig.workspace()
    job = rig.job(ws, rows=2, cap=2)
    dialer = HangingDialer()
    engine, outbox = rig.engine(dialer, Timing())
    rig.start(ws, job)
    assert engine.pump(ws["workspaceId"], job) == "open"
    assert [d[2] for d in outbox.dials] == [0, 1]
    assert engine.dial(ws["workspaceId"], job, 0) == "ok"
    assert engine.dial(ws["workspaceId"], job, 0) == "gone"
    assert len(dialer.requests) == 1


def test_a_lapsed_lease_frees_the_slot_and_fails_the_dial(rig: Rig) -> None:
    """A dial whose holder died (no renewal) loses its lease; the reaper ends it failed."""
    ws = rig.workspace()
    job = rig.job(ws, rows=1, cap=1)
    engine, _ = rig.engine(HangingDialer(), Timing(lease_ms=2500))
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    before_dial = time.monotonic()
    assert engine.dial(ws["workspaceId"], job, 0) == "ok"
    engine.keeper.forget(engine.keeper.held()[0].dial_id)  # its process "died"
    assert rig.leases_left() == 4
    reaped_early = engine.reap()
    if time.monotonic() - before_dial < 2.4:  # a loaded CI host can stall past the lease
        assert reaped_early == 0
    wait_for(lambda: reaped_early + engine.reap() == 1, 6, "the lease to lapse")
    dial = rig.dials(ws, job)[0]
    assert dial["status"] == "failed"
    assert rig.leases_left() == 0
    assert rig.status(ws, job) == "COMPLETE"
    finished = [e for e in rig.events(ws, job) if e["type"] == "dial.finished"]
    assert finished[0]["reason"] == "lease_expired"


def test_renewed_leases_outlive_their_first_expiry(rig: Rig) -> None:
    """A call whose process keeps renewing keeps its slot past the lease time."""
    ws = rig.workspace()
    job = rig.job(ws, rows=1, cap=1)
    engine, _ = rig.engine(HangingDialer(), Timing(lease_ms=800))
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    engine.dial(ws["workspaceId"], job, 0)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert engine.renew() == 0
        time.sleep(0.05)  # the point: a live holder renewing every 50 ms, past the lease
        assert engine.reap() == 0
    assert rig.dials(ws, job)[0]["status"] == "in-progress"
    assert rig.leases_left() == 4


def test_a_provider_held_call_ends_at_the_max_call_duration(rig: Rig) -> None:
    """A call handed to the provider that never reports its end is failed after the
    maximum call duration, and its slots are freed."""
    ws = rig.workspace()
    job = rig.job(ws, rows=1, cap=1)
    engine, _ = rig.engine(HangingDialer(handoff=True), Timing(lease_ms=100, max_call_ms=2_000))
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    engine.dial(ws["workspaceId"], job, 0)
    assert engine.keeper.held() == []
    time.sleep(0.4)  # the point: time passes beyond the lease (0.1 s), not the call (2 s)
    assert engine.reap() == 0  # past the lease time, within the call duration
    wait_for(lambda: engine.reap() == 1, 5, "the provider call to time out")
    finished = [e for e in rig.events(ws, job) if e["type"] == "dial.finished"]
    assert [(e["status"], e["reason"]) for e in finished] == [("failed", "max_call_duration")]
    assert rig.leases_left() == 0


def test_lost_messages_are_recovered_by_the_pump(rig: Rig) -> None:
    """Rows released whose messages never ran go back to the queue and are released again."""
    ws = rig.workspace()
    job = rig.job(ws, rows=3, cap=3)
    engine, outbox = rig.engine(HangingDialer(), Timing(stale_release_ms=200))
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    assert len(outbox.dials) == 3
    engine.pump(ws["workspaceId"], job)
    assert len(outbox.dials) == 3  # still within their time: nothing twice
    wait_for(
        lambda: (engine.pump(ws["workspaceId"], job), len(outbox.dials))[1] == 6,
        5,
        "stale rows to be re-released",
    )
    assert sorted(d[2] for d in outbox.dials[3:]) == [0, 1, 2]


def test_the_pump_of_a_job_that_is_not_active_releases_nothing(rig: Rig) -> None:
    """A pump run for a paused or finished job sends no dial and drops its wake-up."""
    ws = rig.workspace()
    job = rig.job(ws, rows=1, cap=1)
    engine, outbox = rig.engine(HangingDialer(), Timing())
    rig.start(ws, job)
    rig.producer.cancel_job(ws["workspaceId"], job)
    assert rig.status(ws, job) == "CANCELLED"
    assert engine.pump(ws["workspaceId"], job) == "idle"
    assert outbox.dials == []
    other = rig.job(ws, rows=2, cap=1)
    rig.start(ws, other)
    rig.producer.set_paused(ws["workspaceId"], other, True)
    assert engine.pump(ws["workspaceId"], other) == "idle"
    assert outbox.dials == []
    member = job_member(ws["workspaceId"], other)
    assert rig.client.zscore(f"{rig.namespace}:wakeups", member) is None


def test_a_schedule_changed_while_paused_applies_before_any_claim(rig: Rig) -> None:
    """Rows released under the old (open) window are not dialed after a resume into a
    schedule that is closed: the window is computed again first."""
    ws = rig.workspace()
    job = rig.job(ws, rows=3, cap=3)
    engine, _ = rig.engine(HangingDialer(), Timing())
    rig.start(ws, job)
    assert engine.pump(ws["workspaceId"], job) == "open"
    rig.producer.set_paused(ws["workspaceId"], job, True)
    rig.producer.update_job(ws["workspaceId"], job, {"schedule": _closed_now()})
    rig.start(ws, job)
    assert engine.dial(ws["workspaceId"], job, 0) == "closed"
    assert engine.pump(ws["workspaceId"], job) == "closed"
    assert engine.dial(ws["workspaceId"], job, 1) == "closed"
    assert rig.producer.get_job(ws["workspaceId"], job)["counts"]["queued"] == 3
    types = [e["type"] for e in rig.events(ws, job)]
    assert "dial.started" not in types
    assert types[-1] == "job.window_closed"


class SlowHandoffDialer(HangingDialer):
    """Answers only after ``delay_s``, then hands the call to the provider."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(handoff=True)
        self.delay_s = delay_s

    def place(self, request: Any, on_end: Any) -> Any:
        time.sleep(self.delay_s)  # the slow provider itself
        return super().place(request, on_end)


def test_a_handoff_after_the_lease_lapsed_does_not_revive_it(rig: Rig) -> None:
    """A provider answering after the lease lapsed gets no slot back: the dial fails."""
    ws = rig.workspace()
    job = rig.job(ws, rows=1, cap=1)
    engine, _ = rig.engine(SlowHandoffDialer(0.5), Timing(lease_ms=200))
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    assert engine.dial(ws["workspaceId"], job, 0) == "ok"
    finished = [e for e in rig.events(ws, job) if e["type"] == "dial.finished"]
    assert [(e["status"], e["reason"]) for e in finished] == [("failed", "lease_lost")]
    assert rig.leases_left() == 0


def test_staging_an_update_does_not_disturb_running_claims(rig: Rig) -> None:
    """A staged update leaves the running configuration's version alone."""
    ws = rig.workspace()
    job = rig.job(ws, rows=2, cap=2)
    engine, _ = rig.engine(HangingDialer(), Timing())
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    before = rig.client.hget(rig.producer.keys.job(ws["workspaceId"], job), "ver")
    for cap in (1, 2, 1):
        rig.producer.update_job(ws["workspaceId"], job, {"maxConcurrentDials": cap})
    assert rig.client.hget(rig.producer.keys.job(ws["workspaceId"], job), "ver") == before
    assert engine.dial(ws["workspaceId"], job, 0) == "ok"


def test_renewal_drops_ended_dials_and_ends_overdue_ones(rig: Rig) -> None:
    """A held dial ended elsewhere stops being renewed; one past the longest allowed
    call is ended as failed (max_call_duration)."""
    ws = rig.workspace()
    job = rig.job(ws, rows=2, cap=2)
    engine, _ = rig.engine(HangingDialer(), Timing(lease_ms=5_000, max_call_ms=400))
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    engine.dial(ws["workspaceId"], job, 0)
    engine.dial(ws["workspaceId"], job, 1)
    first, second = engine.keeper.held()
    engine.ends.finish(first, "completed")  # e.g. a provider callback
    assert engine.renew() == 0
    assert engine.keeper.held() == [second]
    wait_for(lambda: engine.renew() == 1, 5, "the overdue dial to be ended")
    assert engine.keeper.held() == []
    reasons = [e.get("reason") for e in rig.events(ws, job) if e["type"] == "dial.finished"]
    assert reasons == [None, "max_call_duration"]
    assert rig.status(ws, job) == "COMPLETE"
    assert rig.producer.get_job(ws["workspaceId"], job)["pendingConfig"] is None


def test_a_job_completing_drops_its_staged_configuration(rig: Rig) -> None:
    """A COMPLETE job shows no pendingConfig."""
    ws = rig.workspace()
    job = rig.job(ws, rows=1, cap=1)
    engine, _ = rig.engine(HangingDialer(), Timing())
    rig.start(ws, job)
    engine.pump(ws["workspaceId"], job)
    engine.dial(ws["workspaceId"], job, 0)
    rig.producer.update_job(ws["workspaceId"], job, {"name": "later"})
    assert rig.producer.get_job(ws["workspaceId"], job)["pendingConfig"] is not None
    engine.end(engine.keeper.held()[0], "completed")
    final = rig.producer.get_job(ws["workspaceId"], job)
    assert final["status"] == "COMPLETE"
    assert final["pendingConfig"] is None
