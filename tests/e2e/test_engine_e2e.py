"""SPEC §5 end to end: real API and worker processes on a real Redis."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis

from config.broker import make_broker
from config.redis import make_redis
from domain.keys import Keys
from domain.replay import peak_concurrency
from tests.support import clockshift
from tests.support.http import read_all
from tests.support.procs import NUMBERS, env_for
from tests.support.provider import SECRET, Provider, provider_server
from tests.support.redis_server import REDIS_URL, sem_members
from tests.support.stack import StackFactory
from tests.support.waits import wait_for, wait_until
from worker.actors import DIAL_ACTOR

pytestmark = pytest.mark.e2e


def test_http_provider_with_two_workers(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """API + two worker processes + an http provider that calls back, two jobs of one
    workspace: both complete; the job caps, the workspace limit and each number's limit
    hold as the provider counts calls; calls spread over the pool; every row is dialed
    once; a duplicated dial message dials nobody; the events tell the whole story."""
    provider = Provider(SECRET, call_seconds=0.3)
    with provider_server(provider) as dial_url:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="http",
            BATCHDIAL_DIALER_URL=dial_url,
            BATCHDIAL_DIALER_SECRET=SECRET,
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        with start_stack(env, workers=2, dial_limit=6, per_number=3) as stack:
            ws, http = stack.ws, stack.http
            provider.api_base = stack.base
            jobs = [stack.create_job(rows=30, cap=5) for _ in range(2)]
            urls = [f"/api/batch_dial_jobs/{job['id']}" for job in jobs]
            for job in jobs:
                stack.start(job)
            for job in jobs:
                stack.wait_status(job, "COMPLETE", 60)
            assert provider.callback_errors == []
            assert provider.peak <= 6, "workspace limit"
            assert max(provider.peak_by_number.values()) <= 3, "per-number limit"
            assert len(provider.requests) == 60
            assert set(provider.idempotency_keys.values()) == {1}
            per_number = Counter(r["fromNumber"] for r in provider.requests)
            assert set(per_number) == set(NUMBERS)
            assert min(per_number.values()) >= 10, per_number
            for job, url in zip(jobs, urls, strict=True):
                mine = [r for r in provider.requests if r["jobId"] == job["id"]]
                rows = Counter(r["rowId"] for r in mine)
                assert len(rows) == 30 and set(rows.values()) == {1}
                assert all(r["callAgentId"] == "agent-1" for r in mine)
                events = read_all(http, f"{url}/events")
                assert peak_concurrency(events) <= 5, "job cap"
                types = [e["type"] for e in events]
                assert types[:3] == ["job.created", "job.started", "job.window_opened"]
                assert types[-1] == "job.completed"
                assert Counter(types)["dial.started"] == Counter(types)["dial.finished"] == 30
                dials = read_all(http, f"{url}/dials")
                assert {d["status"] for d in dials} == {"completed"} and len(dials) == 30

            # The same dial message again, straight onto the broker: nobody is called.
            broker = make_broker(make_redis(REDIS_URL, decode=False), namespace)
            broker.declare_queue("dial")
            sent = broker.enqueue(
                dramatiq.Message(
                    queue_name="dial",
                    actor_name=DIAL_ACTOR,
                    args=(ws["workspaceId"], jobs[0]["id"], 0),
                    kwargs={},
                    options={},
                )
            )
            assert real_redis.exists(f"{namespace}:dramatiq:__heartbeats__")  # key names
            pending, rid = f"{namespace}:dramatiq:dial.msgs", sent.options["redis_message_id"]
            wait_for(lambda: not real_redis.hexists(pending, rid), 10, "the message to be acked")
            assert len(provider.requests) == 60
            assert sem_members(real_redis, namespace) == 0


def test_a_killed_worker_loses_no_row_and_leaks_no_slot(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """SIGKILL one of two workers mid-job: the job completes, each row has exactly one
    dial, the dead worker's slots come back within the lease time."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.3",
        BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
        BATCHDIAL_LEASE_SECONDS="2",
        BATCHDIAL_LOG_LEVEL="WARNING",
    )
    with start_stack(env, workers=2) as stack:
        http, victim = stack.http, stack.workers[0]
        job = stack.create_job(rows=150, cap=10)
        url = f"/api/batch_dial_jobs/{job['id']}"
        # Both worker processes must be up before the job starts, or on a busy machine the
        # first one takes every call and the victim holds none when it is killed.
        workers_key = Keys(namespace).workers
        wait_for(lambda: real_redis.zcard(workers_key) >= 2, 60, "both workers alive")
        stack.start(job)
        stack.wait_finished(job, 30, 30)
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        stack.wait_status(job, "COMPLETE", 60)
        dials = read_all(http, f"{url}/dials")
        per_row = Counter(d["rowId"] for d in dials)
        assert len(per_row) == 150 and set(per_row.values()) == {1}
        assert all(d["attempt"] == 1 for d in dials)
        assert sem_members(real_redis, namespace) == 0
        events = read_all(http, f"{url}/events")
        reaped = [e for e in events if e.get("reason") == "lease_expired"]
        held = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) - killed_at for e in reaped]
        # The killed worker held calls; each slot came back within the lease (2 s) plus
        # the reaper's period (1 s) plus slack.
        assert held, "the killed worker held no call (killed too early or too late)"
        assert max(held) < timedelta(seconds=2 + 1 + 2)
        print(
            f"killed worker: {len(reaped)} dials reaped, slots back after "
            f"{min(held).total_seconds():.2f}-{max(held).total_seconds():.2f}s (lease 2s)"
        )


#: Seconds from the shifted clock's start to its minute boundary: the stack's start-up
#: (API, worker, workspace: a few seconds) and the 8 s the jobs need before the boundary.
LEAD_S = 15


@contextmanager
def _clock_and_redis(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[clockshift.Clock, str, dict[str, str]]]:
    """The clock the stack is to run on, its Redis's URL and the environment that puts
    a process on that clock: a Redis of the test's own whose clock stands ``LEAD_S``
    seconds before a minute boundary (tests/support/clockshift.py), or, where that
    cannot be had, the shared Redis on the real clock (the test then waits for a real
    boundary, up to a minute)."""
    with clockshift.shifted_redis(tmp_path, LEAD_S) as own:
        if own is None:
            request.getfixturevalue("real_redis")  # the shared Redis's checks and clean-up
            yield clockshift.Clock(0), REDIS_URL, {}
        else:
            yield own.clock, own.url, own.env


def _schedules_around_the_next_minute(
    clock: clockshift.Clock,
) -> tuple[datetime, dict[str, Any], dict[str, Any]]:
    """The next minute boundary at least 8 s away by ``clock``, a UTC schedule that opens
    at it and one that closes at it. Chosen once the stack is up, so that a slow start
    cannot eat the margin (the jobs must be created and started before the boundary).
    Never midnight: the closing slot would have to end at 24:00 of the day before, and a
    slot of the new day would open the closing job's window at 00:00 (a second
    job.window_closed); so just before midnight it waits (polling) for the new day and
    takes 00:01."""
    now = clock.now()
    boundary = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (boundary - now).total_seconds() < 8:
        boundary += timedelta(minutes=1)
    if boundary.strftime("%H:%M") == "00:00":
        today = now.date()

        def new_day() -> datetime | None:
            at = clock.now()
            return at if at.date() != today else None

        now = wait_until(new_day, 70, "midnight", every=0.1)
        boundary = now.replace(hour=0, minute=1, second=0, microsecond=0)
    day, hhmm = boundary.isoweekday() % 7, boundary.strftime("%H:%M")
    opening = {
        "days": [{"dayOfWeek": day, "timeSlots": [{"startTime": hhmm, "endTime": "24:00"}]}],
        "timezone": "UTC",
    }
    closing = {
        "days": [{"dayOfWeek": day, "timeSlots": [{"startTime": "00:00", "endTime": hhmm}]}],
        "timezone": "UTC",
    }
    return boundary, opening, closing


def test_windows_open_and_close_on_time(
    namespace: str, tmp_path: Path, request: pytest.FixtureRequest, start_stack: StackFactory
) -> None:
    """At a minute boundary one job's window opens and another's closes: the first dials
    only after it (and soon), the second never after it. Every process of the stack, its
    Redis too, runs on a clock shifted to just before a boundary (where that can be had)."""
    with _clock_and_redis(tmp_path, request) as (clock, url, clock_env):
        env = env_for(
            namespace,
            url,
            BATCHDIAL_SIMULATED_CALL_SECONDS="0.5",
            BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
            BATCHDIAL_LOG_LEVEL="WARNING",
            **clock_env,
        )
        with start_stack(env) as stack:
            http = stack.http
            boundary, opening, closing = _schedules_around_the_next_minute(clock)
            print(
                f"clock shifted {clock.seconds:+d} s; boundary {boundary:%H:%M:%S} in "
                f"{(boundary - clock.now()).total_seconds():.1f} s"
            )
            a = stack.create_job(rows=5, cap=1, schedule=opening)
            b = stack.create_job(rows=500, cap=2, schedule=closing)
            for job in (a, b):
                stack.start(job)
            wait_for(lambda: clock.now() > boundary + timedelta(seconds=3), 90, "the boundary")
            events_a = read_all(http, f"/api/batch_dial_jobs/{a['id']}/events")
            events_b = read_all(http, f"/api/batch_dial_jobs/{b['id']}/events")

    def at(event: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(event["at"].replace("Z", "+00:00"))

    started_a = [at(e) for e in events_a if e["type"] == "dial.started"]
    assert started_a, "job A never dialed after its window opened"
    assert min(started_a) >= boundary
    assert (min(started_a) - boundary).total_seconds() < 1.5
    types_a = [e["type"] for e in events_a]
    assert types_a.index("job.window_closed") < types_a.index("job.window_opened")
    started_b = [at(e) for e in events_b if e["type"] == "dial.started"]
    assert started_b and max(started_b) < boundary
    assert [e["type"] for e in events_b].count("job.window_closed") == 1
