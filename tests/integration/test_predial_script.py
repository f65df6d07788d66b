"""``predial.lua`` on a real Redis (issue 16): what a pre-dial hook's skip and defer do to
a claimed dial, driven by hand (no hook, no network): the slots freed, the dial taken
off the job's dials, the row skipped (and the job complete) or held as ``preDial``,
a deferred row of a job cancelled meanwhile cancelled, a second withdrawal a no-op."""

from __future__ import annotations

from typing import Any

from domain.dials import DialRef
from domain.keys import Keys
from tests.support.engine import HangingDialer, Rig
from worker.engine.predial import PreDial, Verdict
from worker.engine.timing import Timing


def _claimed(rig: Rig, rows: int) -> tuple[dict[str, Any], str, DialRef]:
    """A started job of ``rows`` rows (cap 1) whose first row is claimed and in progress."""
    ws = rig.workspace(dial_limit=5)
    job_id = rig.job(ws, rows, cap=1)
    rig.start(ws, job_id)
    dialer = HangingDialer(handoff=True)
    engine, _ = rig.engine(dialer, Timing())
    engine.pump(ws["workspaceId"], job_id)
    assert engine.dial(ws["workspaceId"], job_id, 0) == "ok"
    request = dialer.requests[0]
    key = rig.producer.keys.dial(ws["workspaceId"], request.dial_id)
    number_id = rig.client.hget(key, "fromNumberId")
    return ws, job_id, DialRef(ws["workspaceId"], job_id, request.dial_id, str(number_id))


def test_a_skip_ends_the_row_and_frees_the_slot(real_rig: Rig) -> None:
    ws, job_id, ref = _claimed(real_rig, rows=1)
    predial = PreDial(real_rig.client, Keys(real_rig.namespace))
    assert predial.withdraw(ref, Verdict("skip", "on the do-not-call list", "hook")) == "skipped"
    view = real_rig.producer.get_job(ws["workspaceId"], job_id)
    assert view["status"] == "COMPLETE"
    assert view["counts"]["outcomes"] == {"skipped": 1} and view["counts"]["finished"] == 1
    assert view["counts"]["inProgress"] == 0 and view["counts"]["byStatus"] == {}
    assert real_rig.leases_left() == 0
    assert real_rig.dials(ws, job_id) == []
    types = [e["type"] for e in real_rig.events(ws, job_id)]
    assert types[-4:] == ["dial.started", "dial.withdrawn", "row.skipped", "job.completed"]
    skipped = next(e for e in real_rig.events(ws, job_id) if e["type"] == "row.skipped")
    assert skipped["reason"] == "on the do-not-call list" and skipped["decidedBy"] == "hook"
    assert predial.withdraw(ref, Verdict("skip", "again", "hook")) == "missing"


def test_a_defer_holds_the_row_as_pre_dial_without_counting_an_attempt(real_rig: Rig) -> None:
    ws, job_id, ref = _claimed(real_rig, rows=2)
    predial = PreDial(real_rig.client, Keys(real_rig.namespace))
    wait = Verdict("defer", "call back later", "hook", 60.0)
    assert predial.withdraw(ref, wait) == "held"
    assert real_rig.leases_left() == 0
    view = real_rig.producer.get_job(ws["workspaceId"], job_id)
    assert view["status"] == "ACTIVE" and view["counts"]["finished"] == 0
    assert view["counts"]["held"] == 1 and view["counts"]["inProgress"] == 0
    queue = real_rig.producer.queue(ws["workspaceId"], job_id).data
    held = next(e for e in queue if e["index"] == 0)
    assert held["waitingFor"] == "preDial" and held["attempt"] == 1
    assert held["nextEligibleAt"]
    withdrawn = [e for e in real_rig.events(ws, job_id) if e["type"] == "dial.withdrawn"]
    assert [(e["row"], e["decidedBy"]) for e in withdrawn] == [("held", "hook")]
    assert withdrawn[0]["reason"] == "preDial: call back later" and withdrawn[0]["retryAt"]


def test_a_defer_of_a_job_cancelled_meanwhile_cancels_the_row(real_rig: Rig) -> None:
    ws, job_id, ref = _claimed(real_rig, rows=2)
    real_rig.producer.cancel_job(ws["workspaceId"], job_id)
    predial = PreDial(real_rig.client, Keys(real_rig.namespace))
    assert predial.withdraw(ref, Verdict("defer", "no answer", "onTimeout", 60.0)) == "cancelled"
    view = real_rig.producer.get_job(ws["workspaceId"], job_id)
    assert view["status"] == "CANCELLED" and view["counts"]["cancelled"] == 2
    assert view["counts"]["held"] == 0 and real_rig.leases_left() == 0
