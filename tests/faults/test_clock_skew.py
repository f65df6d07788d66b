"""Fault: worker hosts whose clocks are a minute off (libfaketime), Redis TIME being the
only clock that counts."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.faults.helpers import dial_report, log_problems, log_records, wait_status
from tests.support import clockshift
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL, sem_members
from tests.support.stack import StackFactory
from tests.support.waits import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROWS, CAP = 200, 10
SKEWS = (60, -60)  # seconds: one worker a minute ahead, one a minute behind
#: Seconds the test needs inside one wall-clock minute (start to COMPLETE, with slack).
NEEDS_S = 25
#: Seconds into a minute that a shifted Redis's clock stands at when it starts.
START_S = 2


def libfaketime() -> str:
    """The libfaketime library; skips (fails under CI=true) when it is not installed."""
    candidates = [
        *glob.glob("/usr/lib/*/faketime/libfaketime.so.1"),
        *glob.glob("/usr/lib/faketime/libfaketime.so.1"),
        *glob.glob("/usr/local/lib/faketime/libfaketime.so.1"),
    ]
    if candidates and shutil.which("faketime"):
        return candidates[0]
    message = "libfaketime is not installed (Debian: apt-get install faketime)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs {message}; scripts/test must install it")
    pytest.skip(message)


#: libfaketime 0.9.10 breaks Python's time.sleep when the monotonic clock is left real
#: (clock_nanosleep with an absolute monotonic deadline answers EINVAL), and hangs lock
#: timeouts when it is faked. So the monotonic clock stays real (it is never compared
#: across hosts), and the skewed processes get this time.sleep, a select() timeout,
#: which libfaketime leaves alone. Only the harness changes; every clock read is faked.
SLEEP_SHIM = """\
import select
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
"""


def skewed(env: dict[str, str], lib: str, seconds: int, shim: Path) -> dict[str, str]:
    """``env`` for a process whose wall clock is ``seconds`` off."""
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SLEEP_SHIM)
    return {
        **env,
        "LD_PRELOAD": lib,
        "FAKETIME": f"{seconds:+d}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(shim), env.get("PYTHONPATH")) if p),
    }


def this_minute_only(clock: clockshift.Clock) -> dict[str, Any]:
    """A UTC schedule open for the current minute of ``clock`` (Redis's) only: by the
    clock of a worker a minute ahead or behind, it is closed. Waits for a fresh minute
    when fewer than ``NEEDS_S`` seconds of this one are left."""
    now = clock.now()
    if now.second > 60 - NEEDS_S:
        minute = now.minute

        def next_minute() -> datetime | None:
            at = clock.now()
            return at if at.minute != minute else None

        now = wait_until(next_minute, 61, "a fresh minute", every=0.1)
    start = now.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1)
    end_hhmm = "24:00" if end.date() != start.date() else end.strftime("%H:%M")
    return {
        "days": [
            {
                "dayOfWeek": start.isoweekday() % 7,
                "timeSlots": [{"startTime": start.strftime("%H:%M"), "endTime": end_hhmm}],
            }
        ],
        "timezone": "UTC",
    }


@contextmanager
def _clock_and_redis(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[clockshift.Clock, str, redis.Redis, dict[str, str]]]:
    """Redis's clock, its URL, a client and the environment that puts a process on its
    clock: a Redis of the test's own whose clock has just started a minute
    (tests/support/clockshift.py), so that the test need not wait for a fresh one; or,
    where that cannot be had, the shared Redis on the real clock."""
    with clockshift.shifted_redis(tmp_path, 60 - START_S) as own:
        if own is None:
            yield clockshift.Clock(0), REDIS_URL, request.getfixturevalue("real_redis"), {}
        else:
            yield own.clock, own.url, own.client, own.env


@pytest.mark.timeout(150)
def test_workers_a_minute_off_keep_leases_windows_and_caps(
    namespace: str, tmp_path: Path, request: pytest.FixtureRequest, start_stack: StackFactory
) -> None:
    """Two workers, one with its clock a minute ahead and one a minute behind (libfaketime),
    run a job whose window is open only for the current minute, with 2 s leases: the job
    completes inside its window, no lease lapses, and the cap holds. Redis and the API
    share one clock (where it can be had, one shifted to the start of a minute)."""
    lib = libfaketime()
    with _clock_and_redis(tmp_path, request) as (clock, url, client, clock_env):
        env = env_for(
            namespace,
            url,
            BATCHDIAL_SIMULATED_CALL_SECONDS="0.3",
            BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
            BATCHDIAL_LEASE_SECONDS="2",
            BATCHDIAL_LOG_LEVEL="DEBUG",  # dial_started is a debug line
            **clock_env,
        )
        offsets = {}
        for skew in SKEWS:
            probe = subprocess.run(
                [sys.executable, "-c", "import time; time.sleep(0.01); print(time.time())"],
                env=skewed(env, lib, clock.seconds + skew, tmp_path / "shim"),
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
            offsets[skew] = float(probe.stdout) - clock.now().timestamp()
            assert abs(offsets[skew] - skew) < 5, f"faketime did not shift the clock: {offsets}"
        with start_stack(env, workers=0, dial_limit=CAP, per_number=CAP, timeout=30) as stack:
            http = stack.http
            workers = [
                stack.add_worker(
                    "--threads",
                    "4",
                    env=skewed(env, lib, clock.seconds + skew, tmp_path / "shim"),
                    name=f"worker{skew:+d}",
                )
                for skew in SKEWS
            ]
            schedule = this_minute_only(clock)
            job = stack.create_job(rows=ROWS, cap=CAP, schedule=schedule)
            began = time.monotonic()
            stack.start(job)
            wait_status(http, job, "COMPLETE", NEEDS_S)
            took = time.monotonic() - began
            report = dial_report(http, job)
            leases_left = sem_members(client, namespace)
            alive = [w.poll() is None for w in workers]
        per_worker: dict[int, Counter[str]] = {}
        logged_skew: dict[int, float] = {}
        for skew in SKEWS:
            records = log_records(tmp_path / f"worker{skew:+d}.log")
            per_worker[skew] = Counter(str(r.get("event")) for r in records)
            started = [r for r in records if r.get("event") == "dial_started"]
            if started:
                # The worker stamps its log with its own (skewed) clock; Redis stamps events.
                redis_at = {e["dialId"]: e["at"] for e in report["events"] if "dialId" in e}
                first = started[0]
                logged_skew[skew] = (
                    datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
                    - datetime.fromisoformat(redis_at[first["dial_id"]].replace("Z", "+00:00"))
                ).total_seconds()
        problems = [p for skew in SKEWS for p in log_problems(tmp_path / f"worker{skew:+d}.log")]
        print(
            f"\nclock skew: workers at {', '.join(f'{s:+d}s' for s in SKEWS)} (measured "
            f"{', '.join(f'{v:+.1f}s' for v in offsets.values())}; their log stamps vs Redis "
            f"{', '.join(f'{v:+.1f}s' for v in logged_skew.values())}), leases 2 s, window "
            f"{schedule['days'][0]['timeSlots'][0]} UTC only: job COMPLETE after {took:.1f}s"
            f"\n  dials per worker "
            f"{ {f'{s:+d}s': per_worker[s]['dial_started'] for s in SKEWS} }; rows dialed "
            f"{report['rows_dialed']}, rows with 2+ dials {len(report['rows_dialed_twice'])}; "
            f"statuses {dict(report['statuses'])}; reasons {dict(report['reasons'])}; peak "
            f"{report['peak']} (cap {CAP}); leases left {leases_left}; workers alive {alive}; "
            f"error lines {len(problems)}"
        )
        assert report["rows_dialed"] == ROWS and report["rows_dialed_twice"] == []
        assert report["statuses"] == Counter({"completed": ROWS}), report["reasons"]
        assert report["peak"] <= CAP
        assert leases_left == 0
        assert all(alive)
        assert all(per_worker[s]["dial_started"] > 0 for s in SKEWS), "a skewed worker never dialed"
        assert all(per_worker[s]["dial_not_renewed"] == 0 for s in SKEWS)
        assert problems == [], problems[:5]
