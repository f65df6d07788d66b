"""``batchdial worker --queues``: a process may consume only some queues (webhook
deliveries on processes of their own). One without the dial queue dials nobody and does
not count among the processes sharing a job's calls."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from domain.errors import ConfigError
from tests.support.engine import CountingDialer, Rig
from tests.support.waits import wait_for
from worker.runtime import ALL_QUEUES, parse_queues


def test_queues_are_checked_and_named() -> None:
    assert parse_queues("webhooks") == ("webhooks",)
    assert parse_queues(" dial , pump,dial") == ("dial", "pump")
    for bad in ("", " , ", "dials", "dial,sms"):
        with pytest.raises(ConfigError, match="--queues"):
            parse_queues(bad)
    assert set(ALL_QUEUES) == {"dial", "pump", "webhooks"}


def test_a_webhooks_only_worker_dials_nobody_and_takes_no_share(rig: Rig) -> None:
    ws = rig.workspace()
    job_id = rig.job(ws, [{"toNumber": f"+1212555{i:04d}"} for i in range(6)], 2)
    dialer = CountingDialer(0.05)
    rig.worker(dialer, queues=("webhooks",))
    rig.start(ws, job_id)
    time.sleep(1.5)  # several timer ticks and wake-ups: nothing may dial
    assert dialer.requests == []
    assert rig.status(ws, job_id) == "ACTIVE"
    assert rig.client.zcard(rig.producer.keys.workers) == 0

    full = CountingDialer(0.05)
    rig.worker(full)
    rig.wait_status(ws, job_id, "COMPLETE", timeout=30)
    wait_for(
        lambda: rig.client.zcard(rig.producer.keys.workers) == 1, 5, "the dialing worker counted"
    )
    assert len(full.requests) == 6
    assert dialer.requests == []


def test_the_command_refuses_an_unknown_queue_by_name() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batchdial", "worker", "--queues", "dial,sms"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--queues" in done.stderr and "unknown: sms" in done.stderr
