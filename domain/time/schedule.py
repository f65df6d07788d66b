"""Weekly dialing schedule: pure time computations (no I/O).

A weekly schedule is a set of time slots per day of week, interpreted in an
IANA time zone.

Model
-----
* ``dayOfWeek`` keys: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.  A day that
  is missing (or has no slots) is closed all day, and so is every local date in
  ``closed_dates`` (a calling rule's holidays).
* A slot is the half-open wall-clock interval ``[start, end)`` in minutes since
  local midnight; ``0 <= start < end <= 1440`` (``end == 1440`` is ``24:00``).
  Slots never cross midnight and slots of one day never overlap (they may
  touch: ``09:00-12:00`` and ``12:00-17:00`` behave like ``09:00-17:00``).

Semantics
---------
* Every ``at`` argument must be an *aware* datetime (any tzinfo); a naive
  datetime raises ``ValueError``.  Every returned datetime is an aware UTC
  datetime (``tzinfo is datetime.UTC``).  Microseconds of ``at`` are kept.
* ``schedule is None`` means "always open": ``is_open`` is ``True``,
  ``next_open(None, t)`` is ``t`` (in UTC) and ``next_close(None, t)`` is
  ``None``.
* Definition: the schedule is open at instant ``t`` iff the local wall-clock
  time of ``t`` in the schedule's zone (``t.astimezone(zone)``, which resolves
  folds) lies in a slot ``[start, end)`` of the *local* weekday of ``t``.
  Wall times are compared to the second, so ``16:59:59.9`` is inside a slot
  ending at ``17:00`` and ``09:29:59`` is outside a slot starting at ``09:30``.
  Everything else follows from this single definition, in particular DST:

  - a slot whose start falls in a spring-forward gap opens at the first
    instant whose local time is at or after the start, i.e. at the
    transition (``02:30-03:30`` on a ``02:00 -> 03:00`` day is open
    ``03:00-03:30`` local);
  - a slot that lies entirely inside a gap never opens on that day;
  - in a fall-back fold both occurrences of a covered wall time are open
    (``01:15-01:45`` on a ``02:00 -> 01:00`` day is open twice);
  - a skipped calendar day (e.g. ``Pacific/Apia`` on 2011-12-30) simply has
    no instants, so its slots do not open that week.

* ``next_open(s, t)``: the earliest instant ``u >= t`` with ``is_open(s, u)``
  (so ``t`` itself when open at ``t``); ``None`` when the schedule has no slot
  at all.
* ``next_close(s, t)``: ``t`` itself when closed at ``t``; otherwise the
  earliest instant ``u > t`` with ``not is_open(s, u)``; ``None`` when the
  schedule is open forever (every day of the week fully covered from
  ``00:00`` to ``24:00``).
* Both searches look at most ``_MAX_SCAN_DAYS`` (56) days ahead, far more
  than a weekly schedule ever needs (a week plus at most a skipped day or a
  DST gap); ``None`` is returned if nothing is found within that horizon,
  which cannot happen with real tz data.  ``at`` must be at least that far
  from ``datetime.max`` (otherwise ``OverflowError``).

Algorithm
---------
Openness is piecewise constant in time and right-continuous.  Within a
stretch of constant UTC offset ``o`` the local time is ``utc + o``, so
openness can only change where the local time equals a slot boundary
(``local boundary - o``, kept only if the zone really has offset ``o`` at
that instant) or at an offset transition of the zone (where local time
jumps).  The search walks forward one day at a time: it finds the zone's
offset transitions in that day (offset sampled hourly, each change located
by bisection to the exact second: :mod:`domain.time.instants`), builds the candidate instants, and
returns the first candidate at which ``is_open`` has the wanted value.
Changes of offset are assumed to be at least one hour apart (since 1970 the
closest pair in the tz database is about a week apart).

Note for callers: results are UTC; Python never considers an ambiguous
(fold) aware datetime in another zone equal to them (PEP 495), so compare
with ``other.astimezone(UTC)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.time.instants import offset, offset_transitions, require_aware

__all__ = [
    "MINUTES_PER_DAY",
    "TimeSlot",
    "WeeklySchedule",
    "is_open",
    "next_close",
    "next_open",
    "parse_hhmm",
]

MINUTES_PER_DAY = 1440

_HHMM_RE = re.compile(r"([0-9]{2}):([0-9]{2})")
_ONE_DAY = timedelta(days=1)
_ONE_HOUR = timedelta(hours=1)
_MAX_SCAN_DAYS = 56


def parse_hhmm(text: str, *, allow_24: bool) -> int:
    """Parse a 24-hour ``HH:MM`` wall time into minutes since midnight.

    Exactly two digits for hours and minutes are required (``"09:30"`` ->
    570).  ``"24:00"`` (-> 1440) is accepted only when ``allow_24`` is true.
    Raises ``ValueError`` for anything else.
    """
    if not isinstance(text, str):
        raise ValueError(f"time must be a string in HH:MM format, got {text!r}")
    match = _HHMM_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid time {text!r}: expected two-digit 24-hour HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes == 0:
        if allow_24:
            return MINUTES_PER_DAY
        raise ValueError(f"invalid time {text!r}: 24:00 is only allowed as a slot end")
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid time {text!r}: hours must be 00-23 and minutes 00-59")
    return hours * 60 + minutes


def _format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class TimeSlot:
    """Half-open wall-clock interval ``[start_minute, end_minute)`` of one day."""

    start_minute: int  # minutes since local midnight, 0..1439
    end_minute: int  # 1..1440, > start_minute

    def __post_init__(self) -> None:
        start, end = self.start_minute, self.end_minute
        if type(start) is not int or type(end) is not int:
            raise ValueError(f"slot bounds must be ints, got {start!r}, {end!r}")
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise ValueError(f"invalid slot [{start}, {end}): need 0 <= start < end <= 1440")

    @classmethod
    def from_hhmm(cls, start: str, end: str) -> TimeSlot:
        """Build a slot from ``"HH:MM"`` strings (``end`` may be ``"24:00"``)."""
        return cls(parse_hhmm(start, allow_24=False), parse_hhmm(end, allow_24=True))

    def __str__(self) -> str:
        return f"{_format_minute(self.start_minute)}-{_format_minute(self.end_minute)}"


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Weekly schedule in an IANA zone; ``days`` key 0 = Sunday .. 6 = Saturday.

    On construction ``days`` is copied into a read-only mapping, slots are
    sorted by start, empty days are dropped, and the zone name, day keys and
    non-overlap are checked (``ValueError`` on violation).
    """

    timezone: str  # IANA name, valid
    days: Mapping[int, tuple[TimeSlot, ...]]  # missing day = closed all day
    #: Local dates closed all day whatever their weekday (holidays of a calling rule).
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        normalized: dict[int, tuple[TimeSlot, ...]] = {}
        for day, slots in self.days.items():
            if type(day) is not int or not 0 <= day <= 6:
                raise ValueError(f"day of week must be an int 0..6 (0=Sunday), got {day!r}")
            for slot in slots:
                if not isinstance(slot, TimeSlot):
                    raise ValueError(f"expected TimeSlot, got {slot!r}")
            ordered = tuple(sorted(slots, key=lambda slot: slot.start_minute))
            for previous, current in pairwise(ordered):
                if current.start_minute < previous.end_minute:
                    raise ValueError(f"overlapping slots on day {day}: {previous}, {current}")
            if ordered:
                normalized[day] = ordered
        object.__setattr__(self, "days", MappingProxyType(dict(sorted(normalized.items()))))
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))

    @classmethod
    def from_hhmm(
        cls, timezone: str, days: Mapping[int, Iterable[tuple[str, str]]]
    ) -> WeeklySchedule:
        """Build from ``{dayOfWeek: [("09:00", "12:00"), ...]}`` (0 = Sunday)."""
        return cls(
            timezone,
            {
                day: tuple(TimeSlot.from_hhmm(start, end) for start, end in slots)
                for day, slots in days.items()
            },
        )

    @classmethod
    def from_slots(cls, timezone: str, slots: Iterable[tuple[int, str, str]]) -> WeeklySchedule:
        """Build from ``(dayOfWeek, "HH:MM", "HH:MM")`` rows, as in the product spec."""
        days: dict[int, list[TimeSlot]] = {}
        for day, start, end in slots:
            days.setdefault(day, []).append(TimeSlot.from_hhmm(start, end))
        return cls(timezone, {day: tuple(day_slots) for day, day_slots in days.items()})

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's zone (``ZoneInfo`` caches instances by key)."""
        return ZoneInfo(self.timezone)

    @property
    def has_slots(self) -> bool:
        """Whether at least one slot exists (otherwise the schedule never opens)."""
        return bool(self.days)

    @property
    def always_open(self) -> bool:
        """Whether every day of the week is covered from 00:00 to 24:00 (and no date is closed)."""
        if self.closed_dates:
            return False
        for day in range(7):
            reached = 0
            for slot in self.days.get(day, ()):
                if slot.start_minute > reached:
                    return False
                reached = slot.end_minute
            if reached != MINUTES_PER_DAY:
                return False
        return True

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(self.days.items()), self.closed_dates))

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType is not picklable; rebuild from a plain dict.
        return (WeeklySchedule, (self.timezone, dict(self.days), self.closed_dates))


# --------------------------------------------------------------------------
# Public queries
# --------------------------------------------------------------------------


def is_open(schedule: WeeklySchedule | None, at: datetime) -> bool:
    """Whether ``schedule`` is open at the instant ``at`` (``None`` = always)."""
    require_aware(at)
    if schedule is None:
        return True
    return _is_open_utc(schedule, schedule.zone, at.astimezone(UTC))


def next_open(schedule: WeeklySchedule | None, at: datetime) -> datetime | None:
    """Earliest instant ``u >= at`` at which the schedule is open (UTC).

    ``None`` if the schedule has no slots at all.
    """
    require_aware(at)
    start = at.astimezone(UTC)
    if schedule is None:
        return start
    if not schedule.has_slots:
        return None
    zone = schedule.zone
    if _is_open_utc(schedule, zone, start):
        return start
    return _scan(schedule, zone, start, want_open=True)


def next_close(schedule: WeeklySchedule | None, at: datetime) -> datetime | None:
    """``at`` (UTC) if closed then, else the earliest later instant that is closed.

    ``None`` if the schedule is always open (``None`` or 24/7 coverage).
    """
    require_aware(at)
    start = at.astimezone(UTC)
    if schedule is None:
        return None
    zone = schedule.zone
    if not _is_open_utc(schedule, zone, start):
        return start
    if schedule.always_open:
        return None
    return _scan(schedule, zone, start, want_open=False)


# --------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------


def _day_of_week(local_date: date) -> int:
    """0 = Sunday .. 6 = Saturday (Python's ``weekday()`` has Monday = 0)."""
    return (local_date.weekday() + 1) % 7


def _is_open_utc(schedule: WeeklySchedule, zone: ZoneInfo, instant: datetime) -> bool:
    local = instant.astimezone(zone)
    slots = schedule.days.get(_day_of_week(local))
    if not slots or (schedule.closed_dates and local.date() in schedule.closed_dates):
        return False
    second = local.hour * 3600 + local.minute * 60 + local.second
    for slot in slots:  # sorted by start
        if second < slot.start_minute * 60:
            return False
        if second < slot.end_minute * 60:
            return True
    return False


def _candidates(
    schedule: WeeklySchedule, zone: ZoneInfo, lower: datetime, upper: datetime
) -> Iterator[datetime]:
    """Sorted instants in ``(lower, upper]`` where openness may change."""
    transitions = offset_transitions(zone, lower, upper, _ONE_HOUR)
    offsets = {offset(zone, lower)}
    offsets.update(offset(zone, transition) for transition in transitions)
    found = set(transitions)
    for utc_offset in offsets:
        if utc_offset is None:  # pragma: no cover - ZoneInfo always has an offset
            continue
        local_day = (lower + utc_offset).date()
        last_day = (upper + utc_offset).date()
        while local_day <= last_day:
            midnight = datetime.combine(local_day, time())
            for slot in schedule.days.get(_day_of_week(local_day), ()):
                for minute in (slot.start_minute, slot.end_minute):
                    local = midnight + timedelta(minutes=minute)
                    instant = (local - utc_offset).replace(tzinfo=UTC)
                    if lower < instant <= upper and offset(zone, instant) == utc_offset:
                        found.add(instant)
            local_day += _ONE_DAY
    return iter(sorted(found))


def _scan(
    schedule: WeeklySchedule, zone: ZoneInfo, start: datetime, *, want_open: bool
) -> datetime | None:
    """First instant after ``start`` whose openness equals ``want_open``.

    Openness is constant between consecutive candidates, so the first
    candidate with the wanted value is the exact answer.
    """
    lower = start
    for _ in range(_MAX_SCAN_DAYS):
        upper = lower + _ONE_DAY
        for instant in _candidates(schedule, zone, lower, upper):
            if _is_open_utc(schedule, zone, instant) is want_open:
                return instant
        lower = upper
    return None
