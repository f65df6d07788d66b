"""When a job will finish: a pure function of what is left, the pace and the calendar.

The model (docs/api.md, "Forecast"): while the job may dial, it keeps ``concurrency``
calls going, each holding its slot ``mean_call_s`` on average, so it gets through
``concurrency / mean_call_s`` rows a second, or fewer when a dials-per-second limit is
lower. The rows left (queued, plus those in progress, each counted as a whole call)
need ``rows * mean_call_s / concurrency`` seconds of dialing (or ``rows / pace``), spent
only while the window is open: the job's schedule, intersected with the recipient hours
read in the job's timezone. Open time is walked forward from ``now`` with the same
schedule functions the engine uses (``domain.time``), so weekends, several slots a day
and daylight-saving changes fall where they do in the job's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.time.eligibility import window
from domain.time.instants import zone as zone_of
from domain.time.schedule import WeeklySchedule

#: The mean call length assumed before any dial of the job has ended (seconds).
DEFAULT_CALL_SECONDS = 60.0
#: How far ahead the forecast looks for open time before it gives up.
HORIZON = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast the job dials while its window is open."""

    concurrency: int
    mean_call_s: float
    dials_per_second: float | None = None

    @property
    def rows_per_second(self) -> float:
        """Rows finished per second of open window."""
        by_slots = self.concurrency / max(self.mean_call_s, 1e-3)
        if self.dials_per_second is None:
            return by_slots
        return min(by_slots, self.dials_per_second)


@dataclass(frozen=True, slots=True)
class Forecast:
    """The answer: when the rows left are done, and the dialing each day until then."""

    dialing_seconds: float
    finish_at: datetime | None
    #: local date (job's zone) -> seconds of dialing expected that day
    per_day: dict[date, float] = field(default_factory=dict)
    #: why there is no finish_at: "never_open" (no open time within the horizon)
    reason: str | None = None


def forecast(
    rows_left: int,
    pace: Pace,
    now: datetime,
    *,
    schedules: Sequence[WeeklySchedule | None],
    zone: str,
    horizon: timedelta = HORIZON,
) -> Forecast:
    """When ``rows_left`` rows are done at ``pace``, dialing only while every one of
    ``schedules`` is open (``None``: always), with the dialing of each local day in
    ``zone``."""
    needed = rows_left / pace.rows_per_second if rows_left > 0 else 0.0
    if needed == 0:
        return Forecast(0.0, now)
    tz = zone_of(zone)
    at = now.astimezone(UTC)
    limit = at + horizon
    left = needed
    per_day: dict[date, float] = {}
    while at < limit:
        is_open, change = window(schedules, at)
        if not is_open:
            if change is None:
                break
            at = change
            continue
        end = min(change or limit, limit, at + timedelta(seconds=left))
        _spread(per_day, at, end, tz)
        left -= (end - at).total_seconds()
        at = end
        if left <= 1e-6:
            return Forecast(needed, at, per_day)
    return Forecast(needed, None, per_day, reason="never_open")


def _spread(per_day: dict[date, float], start: datetime, end: datetime, tz: ZoneInfo) -> None:
    """Add the seconds of [start, end) to the local days (in ``tz``) they fall on."""
    at = start
    while at < end:
        local = at.astimezone(tz)
        next_midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=tz)
        stop = min(end, next_midnight.astimezone(UTC))
        per_day[local.date()] = per_day.get(local.date(), 0.0) + (stop - at).total_seconds()
        at = stop


def mean_call_seconds(durations_s: Sequence[float]) -> float | None:
    """The mean of the measured call lengths (None when there are none)."""
    return sum(durations_s) / len(durations_s) if durations_s else None
