"""``GET /api/batch_dial_jobs/{id}/forecast``: the inputs of :func:`domain.forecast.forecast`
gathered from the job, its recent dials and its workspace, and the answer's JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from domain.forecast import DEFAULT_CALL_SECONDS, Pace, forecast, mean_call_seconds
from domain.pagination import MAX_LIMIT, Page
from domain.stored_config import hours_of, job_zone_of, schedule_of
from domain.time.eligibility import hours_schedule
from domain.time.timefmt import iso_ms

#: What a job that is not running is forecast as.
_ASSUMES = {
    "INIT": "the job is started now",
    "PAUSED": "the job is resumed now",
}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso_ms(round(at.timestamp() * 1000))


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


def measured_durations(page: Page) -> list[float]:
    """Seconds each ended dial of ``page`` held its slot (started to ended)."""
    return [
        max(0.0, (_ms(d["endedAt"]) - _ms(d["startedAt"])) / 1000)
        for d in page.data
        if d.get("startedAt") and d.get("endedAt")
    ]


def job_forecast(
    job: dict[str, Any],
    workspace: dict[str, Any],
    recent_dials: Callable[[int], Page],
    *,
    global_dials_per_second: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The forecast object of ``job`` (a job view) in ``workspace`` (its view);
    ``recent_dials(limit)`` gives the job's newest dials."""
    at = now or datetime.now(UTC)
    status = job["status"]
    zone = job_zone_of(job)
    base: dict[str, Any] = {"jobId": job["id"], "status": status, "computedAt": _iso(at)}
    if status in {"COMPLETE", "CANCELLED"}:
        done = job.get("completedAt") or job.get("cancelledAt")
        return {
            **base,
            "rowsLeft": 0,
            "finishAt": done,
            "reason": status.lower(),
            "assumes": None,
            "meanCallSeconds": None,
            "meanCallSecondsSource": None,
            "measuredDials": 0,
            "concurrency": 0,
            "dialsPerSecondLimit": None,
            "rowsPerHour": 0.0,
            "dialingHoursNeeded": 0.0,
            "timezone": zone,
            "days": [],
        }
    durations = measured_durations(recent_dials(MAX_LIMIT))
    measured = mean_call_seconds(durations)
    numbers = {n["id"]: int(n["maxConcurrentDials"]) for n in workspace["phoneNumbers"]}
    pool_limit = sum(numbers.get(pn, 0) for pn in job["fromPhoneNumberIds"])
    concurrency = max(
        0, min(int(job["maxConcurrentDials"]), int(workspace["dialLimit"]), pool_limit)
    )
    limits = [r for r in (workspace.get("maxDialsPerSecond"), global_dials_per_second) if r]
    pace = Pace(
        concurrency,
        measured if measured is not None else DEFAULT_CALL_SECONDS,
        float(min(limits)) if limits else None,
    )
    counts = job["counts"]
    rows_left = int(counts["queued"]) + int(counts["inProgress"])
    hours = hours_of(job)
    schedules = [schedule_of(job), hours_schedule(hours, zone) if hours else None]
    answer: dict[str, Any] = {
        **base,
        "rowsLeft": rows_left,
        "assumes": _ASSUMES.get(status),
        "meanCallSeconds": round(pace.mean_call_s, 3),
        "meanCallSecondsSource": "measured" if measured is not None else "default",
        "measuredDials": len(durations),
        "concurrency": concurrency,
        "dialsPerSecondLimit": pace.dials_per_second,
        "timezone": zone,
    }
    if concurrency == 0:
        return {
            **answer,
            "finishAt": None,
            "reason": "no_capacity",
            "rowsPerHour": 0.0,
            "dialingHoursNeeded": None,
            "days": [],
        }
    result = forecast(rows_left, pace, at, schedules=schedules, zone=zone)
    return {
        **answer,
        "finishAt": _iso(result.finish_at),
        "reason": result.reason,
        "rowsPerHour": round(pace.rows_per_second * 3600, 3),
        "dialingHoursNeeded": round(result.dialing_seconds / 3600, 4),
        "days": [
            {"date": day.isoformat(), "dialingHours": round(seconds / 3600, 4)}
            for day, seconds in sorted(result.per_day.items())
        ],
    }
