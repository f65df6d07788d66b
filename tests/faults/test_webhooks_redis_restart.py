"""Fault: Redis crashes (SIGKILL) and restarts on its AOF while webhooks are being
delivered (issue 16). The test's own ``redis-server``, never the shared one."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.e2e.test_webhooks_e2e import (
    _check_no_loss_no_stray_duplicates,
    _endpoint,
    _env_on,
    _first_receipts,
    _job_events,
)
from tests.support.redis_server import own_redis
from tests.support.stack import StackFactory
from tests.support.waits import wait_for
from tests.support.webhook_receiver import Receiver, receiver_server

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.mark.timeout(120)
def test_redis_crash_and_restart_with_aof_loses_no_webhook(
    namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """Redis is SIGKILLed mid-job while deliveries are under way and started again on
    the same AOF: API and worker reconnect, the job completes, and every event its log
    holds afterwards reaches the endpoint (re-sent ones under their webhook-id)."""
    receiver = Receiver(mode="slow", slow_s=0.02)
    with (
        own_redis(tmp_path / "redis") as server,
        receiver_server(receiver) as hooks,
        start_stack(
            _env_on(server.url, namespace, BATCHDIAL_SIMULATED_CALL_SECONDS="0.2"),
            workers=1,
            timeout=30,
        ) as stack,
    ):
        _endpoint(stack, hooks.url, ["*"], receiver)
        job = stack.create_job(rows=40, cap=4)
        stack.start(job)
        wait_for(lambda: len(receiver.receipts) >= 20, 30, "deliveries under way")
        server.stop(signal.SIGKILL)
        time.sleep(1.0)
        server.start()
        stack.wait_status(job, "COMPLETE", 60)
        events = _job_events(stack, job)
        wait_for(lambda: len(_first_receipts(receiver)) >= len(events), 40, "all events")
        time.sleep(1.0)
    _check_no_loss_no_stray_duplicates(receiver, events)
