"""Recipient-local calling hours, and when every schedule of a row's group is open.

Pure time computations (no I/O but reading the system's time zone data once).
See issue 7 and SPEC §7 ("Recipient-local hours").

* A recipient's zones come from :func:`domain.time.zones.zones_for_number` (a row may
  override them with an explicit ``timezone``; that is the caller's business).  A number
  that maps to several zones is callable only while *every* one of those zones is inside
  the hours.
* ``Hours`` is one ``[start, end)`` wall-clock window applied every day; in a zone it is
  a ``WeeklySchedule`` with that slot on all seven days, so the DST rules of
  ``domain.time.schedule`` apply unchanged (a start inside a spring-forward gap opens at
  the transition, a fall-back fold is open twice, ...).
* A row is eligible at an instant when every schedule of its group (the job's own
  schedule and one per recipient zone) is open then.  ``window`` answers "eligible
  now, and until when / from when", which the scheduler asks for every group on every
  run; ``next_eligible`` finds the first instant at which they are all open.

Every returned datetime is an aware UTC datetime, as in ``domain.time.schedule``.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.time.instants import offset_changes, require_aware
from domain.time.instants import zone as zone_of
from domain.time.schedule import (
    MINUTES_PER_DAY,
    TimeSlot,
    WeeklySchedule,
    is_open,
    next_close,
    next_open,
    parse_hhmm,
)

__all__ = [
    "JOB_ZONE",
    "Hours",
    "group_schedules",
    "hours_schedule",
    "never_together",
    "next_eligible",
    "window",
]

JOB_ZONE = "@job"  # stands for "the job's own timezone" in a zone set

_HORIZON = timedelta(days=370)  # a year and a bit: every DST rule of a year is seen once
_ONE_DAY = timedelta(days=1)
_ONE_WEEK = timedelta(days=7)


# --------------------------------------------------------------------------
# Hours and schedules
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hours:
    """The daily wall-clock window ``[start, end)`` in which recipients may be called."""

    start: int  # minutes after local midnight, 0..1439
    end: int  # minutes, start < end <= 1440 (1440 is 24:00)

    def __post_init__(self) -> None:
        if type(self.start) is not int or type(self.end) is not int:
            raise ValueError(f"hours must be whole minutes, got {self.start!r}, {self.end!r}")
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(
                f"invalid hours [{self.start}, {self.end}): need 0 <= start < end <= 1440"
            )

    @classmethod
    def parse(cls, start: str, end: str) -> Hours:
        """Hours from ``"HH:MM"`` strings; ``end`` may be ``"24:00"`` and must follow ``start``."""
        start_minute = parse_hhmm(start, allow_24=False)
        end_minute = parse_hhmm(end, allow_24=True)
        if end_minute <= start_minute:
            raise ValueError(
                f"endTime {end!r} must be after startTime {start!r}: hours cannot be empty or "
                'cross midnight (use "00:00"-"24:00" for the whole day)'
            )
        return cls(start_minute, end_minute)

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


@functools.cache
def hours_schedule(hours: Hours, zone: str) -> WeeklySchedule:
    """The same ``[start, end)`` slot every day of the week in ``zone`` (cached)."""
    slot = (TimeSlot(hours.start, hours.end),)
    schedule = WeeklySchedule(zone, dict.fromkeys(range(7), slot))
    zone_of(zone)
    return schedule


def group_schedules(
    zones: Sequence[str], hours: Hours | None, job_zone: str
) -> tuple[WeeklySchedule, ...]:
    """Schedules that must all be open for a row whose recipients are in ``zones``.

    ``JOB_ZONE`` stands for ``job_zone``, and so does an empty ``zones`` (a number with
    no known zone is called in the job's hours).  ``()`` when ``hours`` is ``None``:
    the recipient side is always open.
    """
    if hours is None:
        return ()
    return _group_schedules(tuple(zones), hours, job_zone)


@functools.lru_cache(maxsize=4096)
def _group_schedules(
    zones: tuple[str, ...], hours: Hours, job_zone: str
) -> tuple[WeeklySchedule, ...]:
    names = sorted({job_zone if zone == JOB_ZONE else zone for zone in zones or (JOB_ZONE,)})
    return tuple(hours_schedule(hours, name) for name in names)


# --------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------


def window(
    schedules: Sequence[WeeklySchedule | None], at: datetime
) -> tuple[bool, datetime | None]:
    """Whether all schedules are open at ``at``, and when that next changes.

    Open: ``(True, earliest next_close of any)``, ``None`` if none ever closes.
    Closed: ``(False, next_eligible(schedules, at))``, ``None`` if never (within the
    horizon).  ``None`` entries mean "always open".

    The answer for a set of schedules is remembered: it stays exact for every later
    instant before the change it names, so a scheduler asking again for the same group
    on its next run gets it without searching (see ``_WindowMemo``).
    """
    require_aware(at)
    start = at.astimezone(UTC)
    active = _active(schedules)
    remembered = _WINDOWS.get(active, start)
    if remembered is not None:
        return remembered
    if all(is_open(schedule, start) for schedule in active):
        closes = [_next_close_cached(schedule, start) for schedule in active]
        answer = True, min((close for close in closes if close is not None), default=None)
    else:
        answer = False, next_eligible(active, start)
    _WINDOWS.put(active, start, answer)
    return answer


class _WindowMemo:
    """The last ``window`` answer per set of schedules, reused while it is still exact.

    ``(open, change)`` computed at ``since`` holds for every ``at`` in ``[since, change)``:
    nothing changes before ``change``.  ``(False, None)`` says no instant in
    ``[since, since + horizon]`` is all-open, so for a later ``at`` only
    ``(since + horizon, at + horizon]`` is searched.  ``(True, None)`` (never closes)
    holds forever.  Bounded (least recently used dropped) and safe across threads.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[
            tuple[WeeklySchedule, ...], tuple[datetime, bool, datetime | None]
        ] = OrderedDict()

    def get(
        self, key: tuple[WeeklySchedule, ...], at: datetime
    ) -> tuple[bool, datetime | None] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            return None
        since, opened, change = entry
        if at < since:
            return None
        if change is not None:
            return (opened, change) if at < change else None
        if opened:
            return True, None
        searched_until = since + _HORIZON
        if at > searched_until:
            return None
        found = next_eligible(key, searched_until, horizon=at - since)
        self.put(key, at, (False, found))
        return False, found

    def put(
        self, key: tuple[WeeklySchedule, ...], at: datetime, answer: tuple[bool, datetime | None]
    ) -> None:
        with self._lock:
            self._entries[key] = (at, *answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_WINDOWS = _WindowMemo(size=8192)


def next_eligible(
    schedules: Sequence[WeeklySchedule | None], at: datetime, horizon: timedelta = _HORIZON
) -> datetime | None:
    """The earliest instant ``>= at`` at which every schedule is open (UTC).

    ``None`` if there is none up to ``at + horizon`` (or a schedule has no slot).

    Each round jumps to the latest of the closed schedules' next openings: no instant
    before it can have them all open, and every round lands on a later opening of some
    schedule, so the rounds are bounded by the openings within the horizon.  Schedules
    that never meet (Tokyo's 08:00-21:00 and New York's 09:00-17:00) would take two
    rounds a day for the whole horizon, so the search also skips ahead: while no zone
    changes its UTC offset, openness repeats every week (every day when each schedule
    has the same slots every day); after a full period without an all-open instant,
    nothing can be found before the next offset change of one of the zones.
    """
    require_aware(at)
    active = _active(schedules)
    moment = at.astimezone(UTC)
    limit = moment + horizon
    period = _period(active)
    zones = tuple(sorted({schedule.timezone for schedule in active}))
    stretch = moment  # no offset change in [stretch, moment) and nothing all-open there
    for _ in range(_max_rounds(active, horizon)):
        latest = moment
        for schedule in active:
            if is_open(schedule, moment):
                continue
            opening = _next_open_cached(schedule, moment)
            if opening is None or opening > limit:
                return None
            latest = max(latest, opening)
        if latest == moment:
            return moment
        moment = latest
        while moment - stretch >= period:
            change = _next_offset_change(zones, stretch, limit)
            if change is None:
                return None
            stretch = change
            moment = max(moment, change)
    raise RuntimeError(  # pragma: no cover - would mean a bug in domain.time.schedule
        f"next_eligible made no progress from {at.isoformat()}; report this as a bug"
    )


def never_together(zones: Sequence[str], hours: Hours, job_zone: str, at: datetime) -> bool:
    """Whether the recipients' hours in these zones never overlap within the horizon.

    Such a row could never be dialed: create refuses it and asks for a row ``timezone``.
    """
    return next_eligible(group_schedules(zones, hours, job_zone), at) is None


def _active(schedules: Sequence[WeeklySchedule | None]) -> tuple[WeeklySchedule, ...]:
    """The real schedules, each once (groups often repeat the job's zone)."""
    active = tuple(dict.fromkeys(schedule for schedule in schedules if schedule is not None))
    for schedule in active:
        zone_of(schedule.timezone)
    return active


def _max_rounds(schedules: Sequence[WeeklySchedule], horizon: timedelta) -> int:
    """An upper bound on the openings of ``schedules`` within ``horizon`` (plus one).

    A slot opens at most twice a local day (again in a fall-back fold); the horizon
    spans at most ``days + 2`` local days; doubled for safety.
    """
    days = horizon.days + 2
    per_day = sum(
        2 * max(map(len, schedule.days.values()), default=0) + 1 for schedule in schedules
    )
    return 2 * per_day * days + 2


def _period(schedules: Sequence[WeeklySchedule]) -> timedelta:
    """After how long openness repeats while offsets stay: a day if every day is alike;
    never (no skipping ahead) when a schedule closes given dates (holidays)."""
    if any(schedule.closed_dates for schedule in schedules):
        return 2 * _HORIZON
    for schedule in schedules:
        if len(schedule.days) != 7 or len(set(schedule.days.values())) != 1:
            return _ONE_WEEK
    return _ONE_DAY


def _next_offset_change(zones: Sequence[str], after: datetime, limit: datetime) -> datetime | None:
    """The first instant in ``(after, limit]`` at which one of ``zones`` changes offset."""
    for year in range(after.year, limit.year + 1):
        changes = [
            change
            for zone in zones
            for change in offset_changes(zone, year)
            if after < change <= limit
        ]
        if changes:
            return min(changes)
    return None


# The scheduler asks for many groups at the same instant, and groups share zones (the
# job's own, New York, ...): remember the last answers per (schedule, instant).
@functools.lru_cache(maxsize=4096)
def _next_close_cached(schedule: WeeklySchedule, at: datetime) -> datetime | None:
    return next_close(schedule, at)


@functools.lru_cache(maxsize=4096)
def _next_open_cached(schedule: WeeklySchedule, at: datetime) -> datetime | None:
    return next_open(schedule, at)
