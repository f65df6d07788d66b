"""Rows the scheduler releases (a job's first fill, a window opening) are dialed by the
worker that ran it, up to its share of the job's calls, without a dial message each;
what is over its share goes to the broker for the other workers (issue 14)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from tests.support.engine import HangingDialer, Rig
from tests.support.waits import wait_for
from worker.runtime import WorkerRuntime


@pytest.fixture(autouse=True)
def _quiet_dramatiq() -> None:
    logging.getLogger("dramatiq").setLevel(logging.WARNING)


def count_dial_messages(runtime: WorkerRuntime) -> Callable[[], int]:
    """Count the dial messages ``runtime`` sends (scheduler, engine and leftovers alike:
    they all send through the engine's one outbox)."""
    outbox = runtime.engine.outbox
    send = outbox.send_dial
    lock = threading.Lock()
    sent = [0]

    def counted(ws_id: str, job_id: str, index: int) -> None:
        with lock:
            sent[0] += 1
        send(ws_id, job_id, index)

    outbox.send_dial = counted  # type: ignore[method-assign]
    return lambda: sent[0]


def test_one_worker_fills_the_cap_without_a_dial_message(rig: Rig) -> None:
    """A lone worker dials the whole first fill itself: 40 calls, no dial message, each
    row once, never over the cap."""
    ws = rig.workspace(dial_limit=40, per_number=40)
    job_id = rig.job(ws, rows=60, cap=40)
    dialer = HangingDialer()
    runtime = rig.worker(dialer)
    sent = count_dial_messages(runtime)
    rig.start(ws, job_id)
    wait_for(lambda: len(dialer.requests) == 40, 20, "the first fill")
    assert sent() == 0
    assert len({r.row_id for r in dialer.requests}) == 40
    assert rig.producer.get_job(ws["workspaceId"], job_id)["counts"]["inProgress"] == 40


def test_a_worker_dials_its_share_and_sends_the_rest_to_the_broker(rig: Rig) -> None:
    """With two workers alive, the one that ran the scheduler sends a dial message for
    each row over its share (cap / 2) and dials the others itself, or sends them too
    once the calls it took from the broker meanwhile fill its share; the other worker
    sends none."""
    ws = rig.workspace(dial_limit=40, per_number=40)
    job_id = rig.job(ws, rows=60, cap=40)
    dialers = [HangingDialer(), HangingDialer()]
    runtimes = [rig.worker(d) for d in dialers]
    counters = [count_dial_messages(r) for r in runtimes]
    wait_for(
        lambda: all(r.engine.presence.workers == 2 for r in runtimes),
        10,
        "both workers to count each other",
    )
    rig.start(ws, job_id)
    wait_for(lambda: sum(len(d.requests) for d in dialers) == 40, 20, "the first fill")
    sends = sorted(c() for c in counters)
    assert sends[0] == 0 and 20 <= sends[1] < 40, sends
    rows = [r.row_id for d in dialers for r in d.requests]
    assert len(set(rows)) == 40
