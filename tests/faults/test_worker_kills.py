"""Fault: worker processes SIGKILLed at random instants while a 2,000-row job runs."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from contextlib import ExitStack

import pytest
import redis

from domain.keys import Keys
from tests.faults.helpers import dial_report, longest_pause, timeline, wait_status
from tests.support.faulty_provider import FaultyProvider, serve
from tests.support.http import job_url
from tests.support.procs import env_for
from tests.support.provider import SECRET
from tests.support.redis_server import REDIS_URL, sem_members
from tests.support.stack import StackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROWS, CAP, WORKERS = 2000, 20, 3
#: Kill rounds, and the pause between two kills (seconds, drawn uniformly).
ROUNDS, EVERY_S = 6, (2.5, 3.5)


class Stranded(threading.Thread):
    """Samples, twice a second, how many of the job's rows were released to the broker
    more than 5 s ago and are still unclaimed (their message was lost with a worker)."""

    def __init__(self, client: redis.Redis, namespace: str, ws_id: str, job_id: str) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.key = Keys(namespace).released_at(ws_id, job_id)
        self.most = 0
        self.seconds = 0.0
        self._stop_event = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            seconds, micros = self.client.time()
            now_ms = int(seconds) * 1000 + int(micros) // 1000
            old = int(self.client.zcount(self.key, "-inf", now_ms - 5000))
            self.most = max(self.most, old)
            self.seconds += 0.5 if old else 0

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(5)


@pytest.mark.timeout(240)
def test_random_worker_kills_lose_nothing_dial_nobody_twice_and_keep_the_cap(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """SIGKILL a random one of three http-dialer workers every ~3 s, six times, starting a
    new one each time: the 2,000-row job completes, no row is lost, no row is dialed
    twice (one dial, one Idempotency-Key per row), and the cap of 20 holds throughout."""
    seed = int(os.environ.get("FAULT_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    # Half the calls are handed to the provider (they survive their worker), half live in
    # the worker's request until they end (they die with it: failed, lease_expired).
    provider = FaultyProvider(SECRET, call_seconds=0.2, plan=("ok", "sync"), slow_s=0)
    with serve(provider) as server:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="http",
            BATCHDIAL_DIALER_URL=server.url,
            BATCHDIAL_DIALER_SECRET=SECRET,
            BATCHDIAL_LEASE_SECONDS="2",
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        with (
            start_stack(env, workers=WORKERS, dial_limit=CAP, per_number=CAP, timeout=30) as procs,
            ExitStack() as stack,
        ):
            http, ws = procs.http, procs.ws
            provider.api_base = procs.base
            workers = list(procs.workers)
            job = procs.create_job(rows=ROWS, cap=CAP)
            began = time.monotonic()
            procs.start(job)
            stranded = Stranded(real_redis, namespace, ws["workspaceId"], job["id"])
            stack.callback(stranded.stop)
            # Kill only once the workers are up and dialing.
            procs.wait_finished(job, CAP, 60)
            kills: list[tuple[float, int, int]] = []
            for _ in range(ROUNDS):
                # The pace of the fault itself: a kill every ~3 s, at random instants.
                time.sleep(rng.uniform(*EVERY_S))
                victim = workers.pop(rng.randrange(len(workers)))
                in_progress = http.get(job_url(job)).json()["counts"]["inProgress"]
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(timeout=10)
                finished = http.get(job_url(job)).json()["counts"]["finished"]
                kills.append((time.monotonic() - began, finished, in_progress))
                workers.append(procs.add_worker())
            last_kill = time.monotonic()
            wait_status(http, job, "COMPLETE", 180)
            took = time.monotonic() - began
            after_last_kill = time.monotonic() - last_kill
            counts = http.get(job_url(job)).json()["counts"]
            report = dial_report(http, job)
            leases_left = sem_members(real_redis, namespace)
            stranded.stop()

    keys_per_row: dict[str, set[str]] = {}
    for request in provider.requests:
        keys_per_row.setdefault(request["rowId"], set()).add(request["dialId"])
    double_at_provider = sorted(r for r, keys in keys_per_row.items() if len(keys) > 1)
    retried = sum(n - 1 for n in provider.idempotency_keys.values() if n > 1)
    print(
        f"\nworker kills (FAULT_SEED={seed}): {len(kills)} SIGKILLs at "
        + ", ".join(f"{t:.1f}s ({f} done)" for t, f, _ in kills)
        + f"; job COMPLETE after {took:.1f}s ({after_last_kill:.1f}s after the last kill); "
        f"longest pause between two dials {longest_pause(report['events']):.1f}s; dials per 5 s: "
        f"{timeline(report['events'])}"
        f"\n  rows {counts['rows']}, finished {counts['finished']}, lost "
        f"{counts['rows'] - counts['finished']}; rows with 2+ dials "
        f"{len(report['rows_dialed_twice'])}"
        f"; rows at the provider {len(keys_per_row)}, with 2+ Idempotency-Keys "
        f"{len(double_at_provider)}; "
        f"same-key retries {retried}"
        f"\n  cap {CAP}: peak {report['peak']} (events), {provider.peak} (provider); "
        f"statuses {dict(report['statuses'])}; reasons {dict(report['reasons'])}; "
        f"leases left {leases_left}; callback errors {len(provider.callback_errors)}"
        f"\n  rows released to the broker and unclaimed for over 5 s (their message died with"
        f" a worker; each holds a slot until the pump takes it back): at most "
        f"{stranded.most}, for {stranded.seconds:.0f}s in all"
    )
    assert counts["finished"] == ROWS, counts
    assert counts["queued"] == counts["inProgress"] == 0
    assert report["rows_dialed"] == ROWS and report["rows_dialed_twice"] == []
    assert double_at_provider == []
    # A row the provider never saw was claimed by a worker killed before its request:
    # its dial ended failed (lease_expired), it was not lost.
    reaped = {d["rowId"] for d in report["dials"] if d["status"] == "failed"}
    assert {d["rowId"] for d in report["dials"]} - set(keys_per_row) <= reaped
    assert report["unfinished"] == []
    assert report["types"]["dial.finished"] == ROWS
    assert report["peak"] <= CAP
    assert provider.peak <= CAP
    # A dial held by a killed worker ends failed (lease_expired); nothing else fails.
    assert set(report["reasons"]) <= {"lease_expired"}, report["reasons"]
    assert report["statuses"]["failed"] == report["reasons"]["lease_expired"]
    assert leases_left == 0
    assert provider.callback_errors == []
