"""Helpers of the fault suite: a Redis server of the test's own (to restart and stop),
job polling, and reading worker logs. Every process started here is stopped by PID."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from domain.replay import peak_concurrency
from tests.e2e.procs import free_port
from tests.e2e.test_engine_e2e import read_all, sem_members

TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled", "voicemail"}


class OwnRedis:
    """A ``redis-server`` on a free loopback port with AOF (everysec) in ``directory``,
    which a test may stop, kill and start again on the same port and directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server did not start: {(self.directory / 'redis.log').read_text()}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it (SIGTERM: a clean shutdown that flushes the AOF; SIGKILL: a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def leases_left(self, namespace: str) -> int:
        """Leases left in the namespace's semaphores and deadline index."""
        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sem_members(client, namespace)
        finally:
            client.close()


@contextmanager
def own_redis(directory: Path) -> Iterator[OwnRedis]:
    """An :class:`OwnRedis`, started, and stopped (by its PID) however the test ends;
    skips (fails under CI=true) when no ``redis-server`` binary is installed."""
    if shutil.which("redis-server") is None:
        message = "no redis-server binary to start a Redis of the test's own"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory.mkdir(parents=True, exist_ok=True)
    server = OwnRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGTERM)


def job_url(job: dict[str, Any]) -> str:
    return f"/api/batch_dial_jobs/{job['id']}"


def wait_status(
    http: httpx.Client, job: dict[str, Any], status: str, timeout: float, *, must: bool = True
) -> float | None:
    """Poll the job until it has ``status``; returns the seconds waited (None on timeout
    when not ``must``). Tolerates the API answering 503 meanwhile (Redis away)."""
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started < timeout:
        try:
            answer = http.get(job_url(job))
            last = answer.json()
            if answer.status_code == 200 and last["status"] == status:
                return time.monotonic() - started
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    if not must:
        return None
    raise AssertionError(f"job not {status} after {timeout}s; last answer: {last}")


def dial_report(http: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    """What a job's dials and events say: rows with more than one dial, statuses, reasons,
    the peak of dials in progress (replayed from the events), dials left unfinished."""
    dials = read_all(http, f"{job_url(job)}/dials")
    events = read_all(http, f"{job_url(job)}/events")
    per_row = Counter(d["rowId"] for d in dials)
    reasons = Counter(
        e.get("reason", "") for e in events if e["type"] == "dial.finished" and e.get("reason")
    )
    types = Counter(e["type"] for e in events)
    return {
        "dials": dials,
        "events": events,
        "rows_dialed": len(per_row),
        "rows_dialed_twice": sorted(r for r, n in per_row.items() if n > 1),
        "statuses": Counter(d["status"] for d in dials),
        "reasons": reasons,
        "unfinished": [d for d in dials if d["status"] not in TERMINAL],
        "peak": peak_concurrency(events),
        "types": types,
    }


def event_time(event: dict[str, Any]) -> float:
    """An event's ``at`` (Redis time) as epoch seconds."""
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()


def timeline(events: list[dict[str, Any]], step_s: float = 5.0) -> list[int]:
    """Dials started in each ``step_s`` seconds from the job's first dial."""
    starts = [event_time(e) for e in events if e["type"] == "dial.started"]
    out = [0] * (int((max(starts) - min(starts)) / step_s) + 1)
    for at in starts:
        out[int((at - min(starts)) / step_s)] += 1
    return out


def longest_pause(events: list[dict[str, Any]]) -> float:
    """The longest time between two dial.started events of the job (seconds)."""
    starts = [event_time(e) for e in events if e["type"] == "dial.started"]
    return max((b - a for a, b in itertools.pairwise(starts)), default=0.0)


def peak_moment(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The dials in progress (by the event log) at the first instant of the peak: their
    ids, when each started, and how the ones that went beyond the cap ended."""
    live: dict[str, dict[str, Any]] = {}
    best: dict[str, dict[str, Any]] = {}
    at = ""
    for event in events:
        if event["type"] == "dial.started":
            live[event["dialId"]] = event
            if len(live) > len(best):
                best, at = dict(live), event["at"]
        elif event["type"] == "dial.finished":
            live.pop(event["dialId"], None)
    ends = {
        e["dialId"]: (e["at"], e["status"], e.get("reason"))
        for e in events
        if e["type"] == "dial.finished" and e["dialId"] in best
    }
    return {
        "at": at,
        "live": [
            (d, best[d]["at"], ends.get(d)) for d in sorted(best, key=lambda d: best[d]["at"])
        ],
    }


def log_problems(path: Path) -> list[str]:
    """Lines of a process log that report an error: level error/critical, or a traceback."""
    problems = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            if "Traceback" in line or "Error" in line:
                problems.append(line)
            continue
        if not isinstance(record, dict):
            continue
        if record.get("level") in ("error", "critical", "exception") or "exception" in record:
            problems.append(line)
    return problems


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a process log."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def log_events(path: Path) -> Counter[str]:
    """How often each structlog ``event`` appears in a JSON log."""
    return Counter(str(r.get("event", ""))[:60] for r in log_records(path))
