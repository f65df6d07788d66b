"""Helpers of the fault suite: job polling, what a job's dials and events say, and
reading worker logs. (A Redis of the test's own is in tests/support/redis_server.py.)"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from domain.replay import peak_concurrency
from tests.support.http import job_url, read_all
from tests.support.waits import wait_until

TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled", "voicemail"}


def wait_status(
    http: httpx.Client, job: dict[str, Any], status: str, timeout: float, *, must: bool = True
) -> float | None:
    """Poll the job until it has ``status``; returns the seconds waited (None on timeout
    when not ``must``). Tolerates the API answering 503 meanwhile (Redis away)."""
    started = time.monotonic()
    last: list[Any] = [None]

    def has_status() -> bool:
        try:
            answer = http.get(job_url(job))
            last[0] = answer.json()
        except httpx.HTTPError as exc:
            last[0] = repr(exc)
            return False
        return answer.status_code == 200 and last[0]["status"] == status

    try:
        wait_until(has_status, timeout, f"job {status}", every=0.2)
    except AssertionError:
        if not must:
            return None
        raise AssertionError(f"job not {status} after {timeout}s; last answer: {last[0]}") from None
    return time.monotonic() - started


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
