"""Faults on the asynchronous dialing path (issue 14): a worker SIGKILLed while the
calls it placed wait on the provider in its event loop, and a provider that never
answers a dial request. Real API and worker processes, a stand-in provider on loopback."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from domain.replay import peak_concurrency
from tests.support.http import read_all
from tests.support.procs import api_server, running, workspace
from tests.support.redis_server import sem_members
from tests.support.standin import StandIn, env_of, serve, start_job, wait_complete
from tests.support.waits import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


class FirstHeld(StandIn):
    """Holds the first ``held`` calls until the test ends; the others last ``call_seconds``."""

    def __init__(self, held: int, call_seconds: float) -> None:
        super().__init__("hold", call_seconds)
        self.held = held
        self.seen = 0

    def hold_s(self, body: dict[str, Any]) -> float:
        with self.lock:
            self.seen += 1
            return 3600.0 if self.seen <= self.held else self.call_seconds


def finished(http: httpx.Client, url: str) -> Counter[tuple[str, str | None]]:
    """(status, reason) of the job's dial.finished events."""
    events = read_all(http, f"{url}/events")
    return Counter((e["status"], e.get("reason")) for e in events if e["type"] == "dial.finished")


@pytest.mark.timeout(120)
def test_a_worker_killed_with_calls_open_on_its_event_loop_loses_nothing(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """A worker whose 10 calls wait on the provider (requests held open, on its event
    loop, with 2 threads) is SIGKILLed. Its leases lapse; another worker's reaper ends
    those dials as failed (lease_expired), never redials them, and dials the rest: the
    job completes, every row dialed once, the cap held, no lease left."""
    rows, cap = 30, 10
    stand_in = FirstHeld(held=cap, call_seconds=0.3)
    with serve(stand_in) as dial_url:
        env = env_of(namespace, dial_url, BATCHDIAL_LEASE_SECONDS="3")
        ws = workspace(env, dial_limit=cap, per_number=cap)
        with (
            api_server(env, tmp_path / "api.log") as base,
            httpx.Client(base_url=base, headers={"api_key": ws["apiKey"]}, timeout=10) as http,
        ):
            with running("worker", "--threads", "2", env=env, log=tmp_path / "w1.log") as doomed:
                url = start_job(http, ws, rows, cap)
                wait_for(lambda: stand_in.open == cap, 30, f"{cap} calls open at once")
                os.killpg(doomed.pid, signal.SIGKILL)
                doomed.wait(10)
            killed_at = time.monotonic()
            with running("worker", "--threads", "2", env=env, log=tmp_path / "w2.log"):
                wait_complete(http, url, 60)
            dials = read_all(http, f"{url}/dials")
            assert len(dials) == rows
            assert Counter(d["rowId"] for d in dials) == Counter({d["rowId"]: 1 for d in dials})
            outcomes = finished(http, url)
            assert outcomes[("failed", "lease_expired")] == cap, outcomes
            assert outcomes[("completed", None)] == rows - cap, outcomes
            assert len(stand_in.rows) == rows and set(stand_in.rows.values()) == {1}
            assert set(stand_in.keys.values()) == {1}
            # (The provider still counts the dead worker's calls as open: they were
            # never hung up. The engine's view, replayed from the events, holds the cap.)
            assert peak_concurrency(read_all(http, f"{url}/events")) <= cap
            assert sem_members(real_redis, namespace) == 0
            print(f"recovered {cap} killed calls in {time.monotonic() - killed_at:.1f} s")


@pytest.mark.timeout(120)
def test_a_provider_that_never_answers_fails_each_dial_and_holds_no_thread(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """A provider that takes every dial request and never answers: each request times
    out and is retried under the same Idempotency-Key, then the dial fails; the job
    completes and no lease is left. All the cap's requests were open at once, with
    only 2 worker threads."""
    rows, cap, threads = 10, 10, 2
    stand_in = StandIn("never", call_seconds=0)
    with serve(stand_in) as dial_url:
        env = env_of(namespace, dial_url, BATCHDIAL_DIALER_TIMEOUT_SECONDS="0.5")
        ws = workspace(env, dial_limit=cap, per_number=cap)
        with (
            api_server(env, tmp_path / "api.log") as base,
            running("worker", "--threads", str(threads), env=env, log=tmp_path / "w.log"),
            httpx.Client(base_url=base, headers={"api_key": ws["apiKey"]}, timeout=10) as http,
        ):
            url = start_job(http, ws, rows, cap)
            wait_complete(http, url, 60)
            dials = read_all(http, f"{url}/dials")
            assert len(dials) == rows and {d["status"] for d in dials} == {"failed"}
            reasons = finished(http, url)
            assert reasons == {("failed", "provider unreachable: Timeout after 5 attempts"): rows}
            assert len(stand_in.rows) == rows and set(stand_in.rows.values()) == {1}
            assert set(stand_in.keys.values()) == {5}, stand_in.keys  # same key each time
            first = sorted(stand_in.arrivals)[0]
            at_once = sum(1 for t in stand_in.arrivals if t - first < 0.45)
            assert at_once == cap > threads, f"{at_once} requests open at once"
            assert sem_members(real_redis, namespace) == 0
