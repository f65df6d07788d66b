"""Instants and zone offsets: what :mod:`domain.time.schedule` and
:mod:`domain.time.eligibility` share.

The one search for a zone's UTC-offset transitions samples the offset every ``step``
and bisects each change to the second. It assumes a zone never changes its offset twice
within one ``step``: the schedule searches with an hour (since 1970 the closest pair of
changes in the tz database is about a week apart), the eligibility search with a day
(in tzdata 2025b the closest two changes of any zone from 1999 to 2039 are 6 days 23
hours apart: Brazil, Oct 2000; found by an hourly scan of every zone).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["offset", "offset_changes", "offset_transitions", "require_aware", "zone"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY = timedelta(days=1)


def require_aware(at: datetime) -> None:
    """Raise ``ValueError`` unless ``at`` is an aware datetime."""
    if not isinstance(at, datetime):
        raise ValueError(f"expected an aware datetime, got {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"naive datetime {at.isoformat()} is not allowed; expected an aware datetime "
            "(attach a tzinfo)"
        )


@functools.cache
def zone(name: str) -> ZoneInfo:
    """``ZoneInfo(name)``, kept alive.

    ``ZoneInfo`` caches instances weakly (plus its last 8 strongly), and
    ``WeeklySchedule.zone`` asks for the zone on every query: with more zones than that
    in play, each query re-read the zone's file (two thirds of ``window``'s time).
    """
    return ZoneInfo(name)


def offset(tz: ZoneInfo, instant: datetime) -> timedelta | None:
    """The zone's UTC offset at ``instant``."""
    return instant.astimezone(tz).utcoffset()


def offset_transitions(
    tz: ZoneInfo, lower: datetime, upper: datetime, step: timedelta
) -> list[datetime]:
    """UTC-offset transitions of ``tz`` in ``(lower, upper]`` (aware UTC, in order).

    The offset is sampled every ``step`` (from ``lower`` rounded down to a whole
    ``step`` since the epoch, a whole number of seconds) and every change is bisected to
    the second: tz transitions are whole seconds and at least ``step`` apart.
    """
    step_seconds = int(step.total_seconds())
    found: list[datetime] = []
    cursor = _EPOCH + ((lower - _EPOCH) // step) * step
    cursor_offset = offset(tz, cursor)
    while cursor < upper:
        following = cursor + step
        following_offset = offset(tz, following)
        if following_offset != cursor_offset:
            # Invariant: offset at cursor+lo == cursor_offset, at cursor+hi differs.
            lo, hi = 0, step_seconds
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(tz, cursor + timedelta(seconds=mid)) == cursor_offset:
                    lo = mid
                else:
                    hi = mid
            transition = cursor + timedelta(seconds=hi)
            if lower < transition <= upper:
                found.append(transition)
        cursor, cursor_offset = following, following_offset
    return found


@functools.cache
def offset_changes(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants in ``(Jan 1, next Jan 1]`` (UTC) at which the zone's UTC offset
    changes (sampled daily, see the module's docstring; cached)."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    return tuple(offset_transitions(zone(zone_name), start, end, _ONE_DAY))
