"""Pacing end to end (issue 14, SPEC §8.1): real API and worker processes on a real Redis,
zero-length simulated calls. Every ``dial.started`` event time (Redis time, recorded in
the claim) is replayed: no one-second window, sliding, holds more than N starts, and the
sustained rate over the span of the starts is at least 0.95 N."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from domain.pacing import max_in_window, sustained_rate
from tests.support.bodies import job_body
from tests.support.http import read_all
from tests.support.procs import api_server, env_for, running, workspace
from tests.support.redis_server import REDIS_URL
from tests.support.waits import wait_for

pytestmark = pytest.mark.e2e
#: A run at N starts a second must finish within this many times its ideal length (+ 20 s).
SLACK = 3


def at_ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def start_times(http: httpx.Client, job_id: str) -> list[int]:
    events = read_all(http, f"/api/batch_dial_jobs/{job_id}/events")
    return [at_ms(e["at"]) for e in events if e["type"] == "dial.started"]


def dial_started_ms(http: httpx.Client, job_id: str) -> list[int]:
    """The dials' own startedAt (the claim's instant) as the dials list shows it."""
    return [at_ms(d["startedAt"]) for d in read_all(http, f"/api/batch_dial_jobs/{job_id}/dials")]


def completed(http: httpx.Client, url: str) -> Callable[[], bool]:
    return lambda: bool(http.get(url).json()["status"] == "COMPLETE")


@contextlib.contextmanager
def stack(env: dict[str, str], tmp_path: Path, workers: int) -> Iterator[str]:
    with contextlib.ExitStack() as procs:
        base = procs.enter_context(api_server(env, tmp_path / "api.log"))
        for n in range(workers):
            procs.enter_context(
                running("worker", "--threads", "4", env=env, log=tmp_path / f"w{n}.log")
            )
        yield base


def run_jobs(
    base: str, wss: list[dict[str, Any]], rows: int, per_second: int, *, cap: int = 10
) -> list[int]:
    """Start one job of ``rows`` rows per workspace, wait for all to complete; every
    dial.started time of them all."""
    times: list[int] = []
    for ws in wss:
        with httpx.Client(base_url=base, headers={"api_key": ws["apiKey"]}, timeout=10) as http:
            job = http.post(
                "/api/batch_dial_jobs",
                json=job_body(ws, rows, cap, every_number=True, schedule=None),
            ).json()
            ws["job"] = job["id"]
            http.post(f"/api/batch_dial_jobs/{job['id']}/paused", json={"paused": False})
    deadline = SLACK * rows * len(wss) / per_second + 20
    for ws in wss:
        with httpx.Client(base_url=base, headers={"api_key": ws["apiKey"]}, timeout=10) as http:
            url = f"/api/batch_dial_jobs/{ws['job']}"
            wait_for(completed(http, url), deadline, "COMPLETE")
            started = start_times(http, ws["job"])
            assert len(started) == rows, "every row dialed once"
            assert sorted(started) == sorted(dial_started_ms(http, ws["job"])), (
                "event times are the claims' instants"
            )
            times += started
    return times


def assert_paced(times: list[int], per_second: int) -> None:
    peak = max_in_window(times)
    rate = sustained_rate(times)
    print(
        f"N={per_second}: {len(times)} starts, peak {peak}/s, sustained {rate / per_second:.3f} N"
    )
    assert peak <= per_second, f"{peak} starts in one second (limit {per_second})"
    assert rate >= 0.95 * per_second, f"sustained {rate:.2f}/s < 0.95 x {per_second}"


def patch_rate(base: str, ws: dict[str, Any], per_second: int | None) -> None:
    with httpx.Client(base_url=base, headers={"api_key": ws["apiKey"]}, timeout=10) as http:
        answer = http.patch("/api/workspace", json={"maxDialsPerSecond": per_second})
        assert answer.status_code == 200, answer.text
        assert answer.json()["maxDialsPerSecond"] == per_second


def test_one_a_second_and_the_queue_says_pacing(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """N = 1 (a carrier's default), one worker, 6 rows: one start a second; while rows
    wait for their turn the queue says so."""
    env = env_for(namespace, REDIS_URL, BATCHDIAL_SIMULATED_CALL_SECONDS="0")
    ws = workspace(env, dial_limit=10, per_number=10)
    with stack(env, tmp_path, workers=1) as base:
        patch_rate(base, ws, 1)
        with httpx.Client(base_url=base, headers={"api_key": ws["apiKey"]}, timeout=10) as http:
            job = http.post(
                "/api/batch_dial_jobs", json=job_body(ws, 6, 3, every_number=True, schedule=None)
            ).json()
            url = f"/api/batch_dial_jobs/{job['id']}"
            http.post(f"{url}/paused", json={"paused": False})

            def pacing_shown() -> bool:
                queue = http.get(f"{url}/queue").json()["data"]
                return any(row["waitingFor"] == "pacing" for row in queue)

            wait_for(pacing_shown, 10, "a queued row waiting for pacing")
            wait_for(lambda: http.get(url).json()["status"] == "COMPLETE", 40, "COMPLETE")
            times = start_times(http, job["id"])
    assert len(times) == 6
    assert_paced(times, 1)


def test_five_a_second_across_workspaces_by_the_global_limit(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """N = 5 for all workspaces together (BATCHDIAL_MAX_DIALS_PER_SECOND), two
    workspaces with 15 rows each, two workers: the starts of both together are paced."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0",
        BATCHDIAL_MAX_DIALS_PER_SECOND="5",
    )
    wss = [workspace(env, dial_limit=10, per_number=10) for _ in range(2)]
    with stack(env, tmp_path, workers=2) as base:
        times = run_jobs(base, wss, rows=15, per_second=5)
    assert len(times) == 30
    assert_paced(times, 5)


def test_fifty_a_second_with_two_workers(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """N = 50 set on the workspace, 300 rows, two worker processes sharing the limit."""
    env = env_for(namespace, REDIS_URL, BATCHDIAL_SIMULATED_CALL_SECONDS="0")
    ws = workspace(env, dial_limit=20, per_number=20)
    with stack(env, tmp_path, workers=2) as base:
        patch_rate(base, ws, 50)
        times = run_jobs(base, [ws], rows=300, per_second=50, cap=20)
    assert len(times) == 300
    assert_paced(times, 50)
