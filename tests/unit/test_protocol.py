"""domain.protocol: each script's raw reply becomes one typed result; labels come from it."""

from __future__ import annotations

import pytest

from domain.protocol import (
    Claimed,
    ClaimRefused,
    FinishResult,
    Limit,
    RecoveryReason,
    SchedulerOutcome,
    parse_cancel_job,
    parse_claim,
    parse_finish_dial,
    parse_handoff,
    parse_renew,
    parse_scheduler,
    parse_set_paused,
    parse_take_wakeups,
    words,
)


def test_scheduler_replies() -> None:
    """An open run lists its released rows as ints; an idle one names the job's status."""
    assert parse_scheduler(["open", "3", "4"]).released == (3, 4)
    assert parse_scheduler(["idle", "PAUSED"]).status == "PAUSED"
    assert parse_scheduler(["stale"]).outcome == "stale"
    with pytest.raises(ValueError, match="unexpected script answer"):
        parse_scheduler(["opened"])


def test_claim_replies() -> None:
    """A claim is either refused (with the full limit) or the started dial, typed."""
    assert parse_claim(["full", "workspace"]) == ClaimRefused("full", "workspace")
    assert parse_claim(["capped"]) == ClaimRefused("capped")
    claimed = parse_claim(["ok", "+15550001", "num_1", '["+1"]', 1000, "", "dial_x", 2])
    assert claimed == Claimed("+15550001", "num_1", '["+1"]', 1000, None, "dial_x", 2)
    assert isinstance(parse_claim(["ok", "n", "i", "[]", 5, "4", "d", 1]), Claimed)


def test_finish_and_lease_replies() -> None:
    """Ending, handoff and renewal replies parse into their outcome words."""
    assert parse_finish_dial(["noop", "completed"]) == FinishResult("noop", "completed")
    ended = parse_finish_dial(["finished", "ACTIVE", 10, 20, "lease_lost", "7"])
    assert (ended.released, ended.started_ms, ended.ended_ms, ended.reason) == (
        [7],
        10,
        20,
        "lease_lost",
    )
    assert parse_handoff("lost").outcome == "lost"
    assert parse_renew(["ended:d1", "overdue:d2"]).not_renewed == (
        ("ended", "d1"),
        ("overdue", "d2"),
    )
    assert parse_take_wakeups(["w1|job_a"]).due == (("w1", "job_a"),)


def test_job_script_replies() -> None:
    """The job scripts' replies keep their words and counts."""
    assert parse_set_paused(["changed", "INIT", "ACTIVE"]).after == "ACTIVE"
    assert parse_cancel_job(["changed", "ACTIVE", 5]).cancelled == 5


def test_metric_labels_come_from_the_protocol() -> None:
    """Every outcome word is pre-created as a label value of its metric."""
    from domain.metrics import LEASE_RECOVERIES
    from worker.metrics import PUMP_RUNS, SEMAPHORE_REFUSALS

    for metric, literal in (
        (PUMP_RUNS, SchedulerOutcome),
        (SEMAPHORE_REFUSALS, Limit),
        (LEASE_RECOVERIES, RecoveryReason),
    ):
        labels = {
            value
            for sample in next(iter(metric.collect())).samples
            for value in sample.labels.values()
        }
        assert set(words(literal)) <= labels
    assert words(SchedulerOutcome) == (
        "open",
        "closed",
        "idle",
        "complete",
        "missing",
        "stale",
        "recompute",
    )
