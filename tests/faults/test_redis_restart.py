"""Fault: the Redis server restarts, or is away for ~10 s, while a job runs.

Each test runs its own ``redis-server`` (free loopback port, AOF ``everysec`` in a
temporary directory), so that it can be stopped without touching the shared one."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.helpers import dial_report, event_time, log_events, log_problems, wait_status
from tests.support.http import job_url, read_all
from tests.support.procs import env_for
from tests.support.redis_server import OwnRedis, own_redis
from tests.support.stack import StackFactory
from tests.support.waits import seconds_until, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROWS, CAP, CALL_S = 300, 10, "0.3"


def _env(server: OwnRedis, namespace: str) -> dict[str, str]:
    return env_for(
        namespace,
        server.url,
        BATCHDIAL_SIMULATED_CALL_SECONDS=CALL_S,
        BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
        BATCHDIAL_LOG_LEVEL="WARNING",
    )


def _first_dial_after(events: list[dict[str, Any]], wall: float) -> float | None:
    """Seconds from ``wall`` (epoch) to the first dial.started after it."""
    later = [
        event_time(e) - wall for e in events if e["type"] == "dial.started" and event_time(e) > wall
    ]
    return min(later) if later else None


def _check_complete(report: dict[str, Any], counts: dict[str, Any]) -> None:
    assert counts["finished"] == ROWS, counts
    assert counts["queued"] == counts["inProgress"] == 0
    assert report["rows_dialed"] == ROWS and report["rows_dialed_twice"] == []
    assert report["unfinished"] == []
    assert report["peak"] <= CAP
    # Each call ended with its real outcome: none was failed for want of Redis.
    assert dict(report["statuses"]) == {"completed": ROWS}, report["reasons"]


@pytest.mark.timeout(150)
def test_redis_restarts_mid_job_lose_nothing(
    namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """Restart Redis twice on the same AOF directory, a third of the way through a job
    (SIGTERM: a clean shutdown) and two thirds of the way (SIGKILL: a crash of the
    process): the API and both workers reconnect by themselves and the job completes
    with every row dialed once."""
    with (
        own_redis(tmp_path / "redis") as server,
        start_stack(
            _env(server, namespace), workers=2, dial_limit=CAP, per_number=CAP, timeout=30
        ) as stack,
    ):
        http, workers = stack.http, stack.workers
        job = stack.create_job(rows=ROWS, cap=CAP)
        began = time.monotonic()
        stack.start(job)
        restarts = []
        for share, sig in ((1, signal.SIGTERM), (2, signal.SIGKILL)):
            stack.wait_finished(job, ROWS * share // 3, 60)
            before = http.get(job_url(job)).json()["counts"]
            t0 = time.monotonic()
            server.stop(sig)
            server.start()
            down_s = time.monotonic() - t0
            up_at = time.time()
            after = wait_json(http, job_url(job))["counts"]
            restarts.append((sig.name, before, after, down_s, up_at, http.get("/readyz")))
        took = wait_status(http, job, "COMPLETE", 90)
        total = time.monotonic() - began
        counts = http.get(job_url(job)).json()["counts"]
        report = dial_report(http, job)
        leases_left = server.leases_left(namespace)
        alive = [w.poll() is None for w in workers]
    logs = sum((log_events(tmp_path / f"w{i}.log") for i in (1, 2)), Counter())
    lines = [
        f"{name}: Redis down {down_s:.2f}s at {before['finished']}/{ROWS} finished "
        f"({before['inProgress']} in progress), {after['finished']} finished on its return "
        f"(records lost {before['finished'] - after['finished']}); first dial "
        f"{_first_dial_after(report['events'], up_at):.2f}s after; /readyz {readyz.status_code}"
        for name, before, after, down_s, up_at, readyz in restarts
    ]
    print(
        "\nredis restarts:\n  "
        + "\n  ".join(lines)
        + f"\n  job COMPLETE {took:.1f}s after the last ({total:.1f}s in all); lost "
        f"{ROWS - counts['finished']}; rows with 2+ dials {len(report['rows_dialed_twice'])}; "
        f"peak {report['peak']} (cap {CAP}); statuses {dict(report['statuses'])}; leases left "
        f"{leases_left}; workers alive {alive}; worker log events {dict(logs)}"
    )
    _check_complete(report, counts)
    assert leases_left == 0
    assert all(alive)
    for _, before, after, _, _, readyz in restarts:
        assert after["finished"] >= before["finished"]  # nothing acknowledged was lost
        assert readyz.status_code == 200


def wait_json(http: httpx.Client, path: str, timeout: float = 30) -> dict[str, Any]:
    """The first 200 answer of ``path`` (the API reconnects on its own)."""
    answers: list[httpx.Response] = []

    def answered() -> bool:
        answers.append(http.get(path))
        return answers[-1].status_code == 200

    try:
        wait_until(answered, timeout, f"{path} to answer 200", every=0.05)
    except AssertionError:
        raise AssertionError(answers[-1].text) from None
    return dict(answers[-1].json())


@pytest.mark.timeout(150)
def test_redis_away_for_ten_seconds(
    namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """Stop Redis for ~10 s mid-job: meanwhile the API answers 503 in the SPEC error shape
    on a job route, /readyz 503 and /healthz 200; the workers back off and resume, and
    the job completes with every row dialed once."""
    with (
        own_redis(tmp_path / "redis") as server,
        start_stack(
            _env(server, namespace), workers=2, dial_limit=CAP, per_number=CAP, timeout=30
        ) as stack,
    ):
        http, workers = stack.http, stack.workers
        job = stack.create_job(rows=ROWS, cap=CAP)
        stack.start(job)
        stack.wait_finished(job, ROWS // 3, 60)
        before = http.get(job_url(job)).json()["counts"]
        server.stop(signal.SIGTERM)
        away_from = time.monotonic()
        seen: Counter[str] = Counter()
        bodies: list[Any] = []
        slowest = 0.0
        while time.monotonic() - away_from < 10:
            for path in (job_url(job), "/readyz", "/healthz"):
                t = time.monotonic()
                answer = http.get(path)
                slowest = max(slowest, time.monotonic() - t)
                seen[
                    f"{path.split('/')[-1] if 'job_' not in path else 'job'} {answer.status_code}"
                ] += 1
                if path != "/healthz":
                    bodies.append(
                        (answer.status_code, answer.headers.get("content-type"), answer.json())
                    )
            time.sleep(0.5)  # samples the answers twice a second for the 10 s Redis is away
        server.start()
        up_at = time.time()
        away_s = time.monotonic() - away_from
        ready_after = wait_for_ready(http)
        # Up to 90 s: a row whose dial message failed while Redis was away is released
        # again by the pump within 60 s (+ its 30 s period). But a 0.3 s call still in
        # progress 20 s after Redis came back is stuck: no need to wait longer for it.
        took = complete_or_stuck(http, job, limit_s=90, stuck_after_s=20)
        counts = http.get(job_url(job)).json()["counts"]
        report = dial_report(http, job)
        leases_left = server.leases_left(namespace)
        alive = [w.poll() is None for w in workers]
    logs = sum((log_events(tmp_path / f"w{i}.log") for i in (1, 2)), Counter())
    api_logs = log_events(tmp_path / "api.log")
    resumed = _first_dial_after(report["events"], up_at)
    print(
        f"\nredis away {away_s:.1f}s at {before['finished']}/{ROWS} finished "
        f"({before['inProgress']} in progress): answers while away {dict(seen)} (slowest "
        f"{slowest:.2f}s); /readyz 200 {ready_after:.2f}s after Redis was back; first dial "
        f"{resumed if resumed is None else round(resumed, 2)}s after; "
        + (f"job COMPLETE {took:.1f}s later" if took is not None else "job NOT COMPLETE (stuck)")
        + f"\n  finished {counts['finished']}/{ROWS}, still in progress {counts['inProgress']}, "
        f"queued {counts['queued']}; rows with 2+ dials "
        f"{len(report['rows_dialed_twice'])}; peak {report['peak']} (cap {CAP}); statuses "
        f"{dict(report['statuses'])} {dict(report['reasons'])}; leases left {leases_left}; "
        f"workers alive {alive}\n  worker log events {dict(logs)}\n  api log events "
        f"{dict(api_logs)}"
    )
    for status, content_type, body in bodies:
        assert status == 503, body
        assert content_type == "application/json"
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "unavailable"
    stuck = [(d["dialId"], d["status"], d["startedAt"]) for d in report["unfinished"]]
    assert took is not None, f"not COMPLETE after Redis came back; counts {counts}; stuck {stuck}"
    assert seen["job 503"] > 0 and seen["readyz 503"] > 0
    assert seen["healthz 200"] == sum(v for k, v in seen.items() if k.startswith("healthz"))
    assert log_problems(tmp_path / "api.log") == []  # 503s, not stack traces
    _check_complete(report, counts)
    assert leases_left == 0
    assert all(alive)


def complete_or_stuck(
    http: httpx.Client, job: dict[str, Any], limit_s: float, stuck_after_s: float
) -> float | None:
    """Seconds until the job is COMPLETE; None after ``limit_s``, or as soon as a dial
    has been in progress for ``stuck_after_s`` (calls last 0.3 s) with no row waiting."""
    started = time.monotonic()

    def complete_or_stuck_now() -> str | None:
        answer = http.get(job_url(job))
        if answer.status_code != 200:
            return None
        job_now = answer.json()
        if job_now["status"] == "COMPLETE":
            return "complete"
        if time.monotonic() - started > stuck_after_s and job_now["counts"]["queued"] == 0:
            now = time.time()
            dials = read_all(http, f"{job_url(job)}/dials")
            if any(
                d["status"] == "in-progress" and now - iso_seconds(d["startedAt"]) > stuck_after_s
                for d in dials
            ):
                return "stuck"
        return None

    try:
        seen = wait_until(complete_or_stuck_now, limit_s, "COMPLETE", every=0.5)
    except AssertionError:
        return None
    return time.monotonic() - started if seen == "complete" else None


def iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_for_ready(http: httpx.Client) -> float:
    """Seconds until /readyz answers 200."""
    return seconds_until(lambda: http.get("/readyz").status_code == 200, 30, "/readyz 200")
