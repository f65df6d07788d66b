"""Fault: dial messages delivered twice, late, or for jobs that cannot dial (cancelled,
paused, unknown), sent straight onto the broker as a redelivery would."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import dramatiq
import pytest
import redis

from config.broker import make_broker
from config.redis import make_redis
from tests.faults.helpers import dial_report, log_problems, log_records, wait_status
from tests.support.http import job_url
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL, sem_members
from tests.support.stack import StackFactory
from tests.support.waits import wait_for
from worker.actors import DIAL_ACTOR

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


class Sender:
    """Puts dial messages on the namespace's broker and waits until each is acked."""

    def __init__(self, namespace: str) -> None:
        self.client = make_redis(REDIS_URL, decode=False)
        self.broker = make_broker(self.client, namespace)
        self.broker.declare_queue("dial")
        self.pending = f"{namespace}:dramatiq:dial.msgs"
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def dial(self, ws_id: str, job_id: str, index: int, times: int = 2) -> None:
        for _ in range(times):
            message = self.broker.enqueue(
                dramatiq.Message(
                    queue_name="dial",
                    actor_name=DIAL_ACTOR,
                    args=(ws_id, job_id, index),
                    kwargs={},
                    options={},
                )
            )
            with self.lock:
                self.sent.append(message.options["redis_message_id"])

    def wait_acked(self, timeout: float = 30) -> None:
        wait_for(
            lambda: not any(self.client.hexists(self.pending, rid) for rid in self.sent),
            timeout,
            "every message sent to be acked",
        )

    def close(self) -> None:
        self.client.close()


@pytest.mark.timeout(120)
def test_duplicate_and_stale_dial_messages_dial_nobody(
    real_redis: redis.Redis, namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """Every row of a running job sent twice more while it runs, and dial messages for a
    cancelled job, a paused job, a row that does not exist and a job that does not
    exist: no extra call is placed, the worker logs no error and stays up, and the
    next job completes."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.3",
        BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
        BATCHDIAL_LOG_LEVEL="DEBUG",  # dial_not_claimed (a message that found nothing) is DEBUG
    )
    with start_stack(env, workers=0, timeout=30) as procs, ExitStack() as stack:
        wsid, http = procs.ws["workspaceId"], procs.http
        worker = procs.add_worker(name="worker")
        sender = Sender(namespace)
        stack.callback(sender.close)
        create, start = procs.create_job, procs.start

        # A cancelled job (never started) and a job paused mid-run.
        cancelled = create(rows=10, cap=2)
        http.post(f"{job_url(cancelled)}/cancel").raise_for_status()
        paused = create(rows=30, cap=2)
        start(paused)
        wait_for(lambda: http.get(job_url(paused)).json()["counts"]["finished"] >= 2, 30, "dials")
        http.post(f"{job_url(paused)}/paused", json={"paused": True}).raise_for_status()
        wait_for(lambda: http.get(job_url(paused)).json()["counts"]["inProgress"] == 0, 30, "")
        paused_before = http.get(job_url(paused)).json()["counts"]

        # A running job: every row sent twice more, spread over its run.
        running_job = create(rows=40, cap=3)
        start(running_job)

        def duplicates() -> None:
            for index in range(40):
                sender.dial(wsid, running_job["id"], index)
                # Spread over the job's run on purpose: duplicates arrive while it dials.
                time.sleep(0.08)

        spray = threading.Thread(target=duplicates)
        spray.start()
        for index in range(10):
            sender.dial(wsid, cancelled["id"], index)
        for index in range(30):
            sender.dial(wsid, paused["id"], index)
        sender.dial(wsid, running_job["id"], 999)  # no such row
        sender.dial(wsid, "job_" + secrets.token_hex(10), 0)  # no such job
        sender.dial("ws_" + secrets.token_hex(8), "job_" + secrets.token_hex(10), 0)  # nor ws
        spray.join()
        wait_status(http, running_job, "COMPLETE", 60)
        sender.wait_acked()
        stray = len(sender.sent)

        # The next real job still completes.
        after = create(rows=20, cap=5)
        start(after)
        wait_status(http, after, "COMPLETE", 60)

        reports = {
            name: dial_report(http, job)
            for name, job in (
                ("cancelled", cancelled),
                ("paused", paused),
                ("running", running_job),
                ("after", after),
            )
        }
        paused_after = http.get(job_url(paused)).json()
        queue_left = len(http.get(f"{job_url(paused)}/queue", params={"limit": 500}).json()["data"])
        dead_letters = int(real_redis.zcard(f"{namespace}:dramatiq:dial.XQ"))
        leases_left = sem_members(real_redis, namespace)
        alive = worker.poll() is None
    problems = log_problems(tmp_path / "worker.log")
    not_claimed = Counter(
        r.get("outcome")
        for r in log_records(tmp_path / "worker.log")
        if r.get("event") == "dial_not_claimed"
    )
    paused_events = reports["paused"]["events"]
    paused_at = max(i for i, e in enumerate(paused_events) if e["type"] == "job.paused")
    started_after_pause = [e for e in paused_events[paused_at:] if e["type"] == "dial.started"]
    print(
        f"\nstale messages: {stray} extra dial messages (2 per target): running job 40 rows x2,"
        f" cancelled job 10 x2, paused job 30 x2, a row and a job and a workspace that do not "
        f"exist x2 each\n  dials: running {reports['running']['rows_dialed']} rows, rows with 2+"
        f" dials {len(reports['running']['rows_dialed_twice'])}, peak {reports['running']['peak']}"
        f" (cap 3); cancelled {len(reports['cancelled']['dials'])}; paused "
        f"{len(reports['paused']['dials'])} before the messages ({paused_before['finished']} "
        f"finished), {len(started_after_pause)} started after the pause, {queue_left} rows still "
        f"queued; next job {reports['after']['statuses']}\n  worker: alive {alive}, error lines "
        f"{len(problems)}, dead letters {dead_letters}, leases left {leases_left}; messages that "
        f"claimed nothing, by claim outcome: {dict(not_claimed)}"
    )
    assert reports["running"]["rows_dialed"] == 40
    assert reports["running"]["rows_dialed_twice"] == []
    assert reports["running"]["peak"] <= 3
    assert reports["cancelled"]["dials"] == []
    assert paused_after["status"] == "PAUSED"
    assert started_after_pause == []
    assert paused_after["counts"]["finished"] == paused_before["finished"]
    assert queue_left == 30 - paused_before["finished"]
    assert reports["after"]["rows_dialed"] == 20
    assert reports["after"]["statuses"] == Counter({"completed": 20})
    assert alive
    assert problems == [], problems[:5]
    assert dead_letters == 0
    assert leases_left == 0
