"""Webhooks to the customer end to end (issue 16): real API and worker processes on a
real Redis, whole jobs, and a receiving server on loopback that verifies every
signature independently and misbehaves on demand."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
import redis

from tests.support.http import read_all
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import Stack, StackFactory
from tests.support.waits import wait_for
from tests.support.webhook_receiver import Receiver, receiver_server

pytestmark = pytest.mark.e2e


def _env_on(redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    """Short calls, loopback destinations allowed, short retries and timeout."""
    settings = {
        "BATCHDIAL_SIMULATED_CALL_SECONDS": "0.05",
        "BATCHDIAL_SIMULATED_OUTCOMES": "completed=3,busy=1",
        "BATCHDIAL_WEBHOOK_ALLOW_PRIVATE": "true",
        "BATCHDIAL_WEBHOOK_RETRY_SECONDS": "1,1,1,1,1,1,1,1,1,1",
        "BATCHDIAL_WEBHOOK_TIMEOUT_SECONDS": "1",
        "BATCHDIAL_LOG_LEVEL": "WARNING",
        **extra,
    }
    return env_for(namespace, redis_url, **settings)


def _env(namespace: str, **extra: str) -> dict[str, str]:
    return _env_on(REDIS_URL, namespace, **extra)


def _endpoint(stack: Stack, url: str, events: list[str], receiver: Receiver) -> dict[str, Any]:
    answer = stack.http.post("/api/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    created = dict(answer.json())
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    return created


def _job_events(stack: Stack, job: dict[str, Any]) -> list[dict[str, Any]]:
    return read_all(stack.http, f"/api/batch_dial_jobs/{job['id']}/events")


def _first_receipts(receiver: Receiver) -> dict[str, tuple[str, float]]:
    """event id -> (webhook-id, when first delivered)."""
    out: dict[str, tuple[str, float]] = {}
    for r in receiver.delivered():
        out.setdefault(r.body["data"]["id"], (r.webhook_id, r.at))
    return out


def _check_no_loss_no_stray_duplicates(receiver: Receiver, wanted: list[dict[str, Any]]) -> None:
    delivered = _first_receipts(receiver)
    assert receiver.bad_signatures == []
    assert set(delivered) == {e["id"] for e in wanted}, "every matched event, nothing else"
    # A webhook-id names one event: every request carrying it carried that event.
    by_id: dict[str, set[str]] = {}
    with receiver.lock:
        for r in receiver.receipts:
            by_id.setdefault(r.webhook_id, set()).add(r.body["data"]["id"])
    assert all(len(ids) == 1 for ids in by_id.values())
    assert len(by_id) == len(wanted), "one webhook-id per event: duplicates are retries"


def test_every_matched_event_arrives_signed_in_order_and_retries_keep_their_id(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """A job runs on two workers with two endpoints: one takes everything and answers at once, the
    other takes dial.finished only and answers 503 for a while, then refuses
    connections, then comes back. Both end with every matching event delivered exactly
    as the job's log has it, signed, the first in the log's order; the second's
    retries reuse their webhook-id and its attempts are listed newest first."""
    # A slightly slow receiver keeps a backlog, so that both workers' runs overlap.
    everything, finished_only = Receiver(mode="slow", slow_s=0.01), Receiver(mode="error")
    with (
        receiver_server(everything) as all_server,
        receiver_server(finished_only) as flaky_server,
        start_stack(_env(namespace), workers=2) as stack,
    ):
        _endpoint(stack, all_server.url, ["*"], everything)
        flaky = _endpoint(stack, flaky_server.url, ["dial.finished"], finished_only)
        job = stack.create_job(rows=40, cap=5)
        stack.start(job)
        stack.wait_status(job, "COMPLETE", 40)
        wait_for(lambda: len(finished_only.receipts) >= 5, 20, "failed attempts")
        flaky_server.stop()
        time.sleep(1.5)
        finished_only.mode = "ok"
        flaky_server.start()
        events = _job_events(stack, job)
        finished = [e for e in events if e["type"] == "dial.finished"]
        wait_for(lambda: len(_first_receipts(everything)) >= len(events), 30, "all events")
        wait_for(lambda: len(_first_receipts(finished_only)) >= len(finished), 30, "finished")
        time.sleep(1.0)  # anything stray would arrive now
        attempts = read_all(stack.http, f"/api/webhooks/{flaky['id']}/deliveries")

    _check_no_loss_no_stray_duplicates(everything, events)
    _check_no_loss_no_stray_duplicates(finished_only, finished)
    order = sorted(_first_receipts(everything).items(), key=lambda kv: kv[1][1])
    log_position = {e["id"]: i for i, e in enumerate(events)}
    positions = [log_position[event_id] for event_id, _ in order]
    assert positions == sorted(positions), "one job's events arrive in the log's order"
    first = everything.delivered()[0].body
    assert set(first) == {"type", "timestamp", "data"}
    assert first["data"] == events[0] and first["type"] == events[0]["type"]
    retried = [n for n in finished_only.count_by_id().values() if n > 1]
    assert retried, "the flaky endpoint's deliveries were retried"
    assert [a["at"] for a in attempts] == sorted((a["at"] for a in attempts), reverse=True)
    outcomes = {a["outcome"] for a in attempts}
    assert {"retrying", "delivered"} <= outcomes
    assert any(a["statusCode"] == 503 for a in attempts)
    assert any(a["statusCode"] is None and a["error"] for a in attempts), "refused"


def test_a_worker_killed_mid_delivery_loses_nothing(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """A worker is SIGKILLed while its attempt waits for the receiver's answer. Another
    worker delivers everything, the killed attempt again under the same webhook-id (its
    lease lapsed): nothing lost, duplicates only as retries."""
    receiver = Receiver(mode="slow", slow_s=0.05, hang_s=0.8)
    with (
        receiver_server(receiver) as server,
        start_stack(_env(namespace), workers=1) as stack,
    ):
        _endpoint(stack, server.url, ["*"], receiver)
        job = stack.create_job(rows=30, cap=4)
        stack.start(job)
        stack.wait_status(job, "COMPLETE", 40)
        events = _job_events(stack, job)
        assert len(_first_receipts(receiver)) < len(events), "a backlog is still being sent"
        seen = len(receiver.receipts)
        receiver.mode = "hang"
        wait_for(lambda: len(receiver.receipts) > seen, 10, "an attempt waiting for its answer")
        # The whole group: `batchdial worker` is a supervisor whose child delivers (a
        # child left alone notices its supervisor gone and stops cleanly, recording the
        # very attempt that was to die).
        os.killpg(stack.workers[0].pid, signal.SIGKILL)
        with receiver.lock:
            in_flight = receiver.receipts[-1].webhook_id
        receiver.mode = "ok"
        stack.add_worker()
        wait_for(lambda: len(_first_receipts(receiver)) >= len(events), 40, "all events")
        time.sleep(1.0)
    _check_no_loss_no_stray_duplicates(receiver, events)
    assert receiver.count_by_id()[in_flight] >= 2, "the killed attempt was made again"


def test_an_endpoint_that_never_answers_does_not_hold_up_dialing(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """With every attempt timing out (the receiver answers after 5 s, the timeout is
    1 s), a job still runs to its end while its events wait for delivery: dialing never
    waits on webhooks."""
    receiver = Receiver(mode="hang", hang_s=5.0)
    with (
        receiver_server(receiver) as server,
        start_stack(_env(namespace), workers=1) as stack,
    ):
        hook = _endpoint(stack, server.url, ["*"], receiver)
        job = stack.create_job(rows=30, cap=5)
        stack.start(job)
        stack.wait_status(job, "COMPLETE", 40)
        events = _job_events(stack, job)
        # The receiver counts what arrived; the sender gave up on each after 1 s.
        received_by_then = len({r.webhook_id for r in receiver.receipts})
        wait_for(lambda: len(receiver.receipts) >= 2, 20, "attempts made")
        attempts = read_all(stack.http, f"/api/webhooks/{hook['id']}/deliveries")
    assert received_by_then < len(events), "the job ended long before its events went out"
    assert attempts and all(a["error"] == "no answer within 1 s" for a in attempts)
    assert {a["outcome"] for a in attempts} == {"retrying"}
