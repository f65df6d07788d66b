"""The holidays the state rules of ``us_states.json`` name, as dates of a year.

Each fixed-date holiday is closed on its date and on its observed weekday too (a
Saturday holiday's Friday, a Sunday holiday's Monday): both readings are covered, as the
rules differ on which one a state means. Moving holidays follow their statute's weekday
rule; Easter (for Good Friday and Mardi Gras) is the Gregorian computus.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date, timedelta

__all__ = ["HOLIDAYS", "closed_dates"]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th (1-based; -1 = last) ``weekday`` (Monday = 0) of the month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month = (h + el - 7 * m + 114) // 31
    day = (h + el - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _fixed(month: int, day: int) -> Callable[[int], Iterable[date]]:
    def dates(year: int) -> Iterable[date]:
        actual = date(year, month, day)
        yield actual
        if actual.weekday() == 5:
            yield actual - timedelta(days=1)
        elif actual.weekday() == 6:
            yield actual + timedelta(days=1)

    return dates


def _weekday(month: int, weekday: int, n: int, shift: int = 0) -> Callable[[int], Iterable[date]]:
    return lambda year: (_nth_weekday(year, month, weekday, n) + timedelta(days=shift),)


def _utah_juneteenth(year: int) -> Iterable[date]:
    """Utah Code 63G-1-301(2)(c)-(d) (2025): June 19 on a Tuesday to Friday is kept on the
    Monday before it, on a Saturday or Sunday on the Monday after it."""
    june19 = date(year, 6, 19)
    weekday = june19.weekday()
    if weekday <= 4:
        return (june19 - timedelta(days=weekday),)
    return (june19 + timedelta(days=7 - weekday),)


MON, TUE, THU = 0, 1, 3

#: Holiday name -> its dates in a year.
HOLIDAYS: dict[str, Callable[[int], Iterable[date]]] = {
    "new_year": _fixed(1, 1),
    "battle_of_new_orleans": _fixed(1, 8),
    "robert_e_lee": _fixed(1, 19),
    "mlk": _weekday(1, MON, 3),
    "presidents": _weekday(2, MON, 3),
    "mardi_gras": lambda year: (_easter(year) - timedelta(days=47),),
    "good_friday": lambda year: (_easter(year) - timedelta(days=2),),
    # Ala. Code 1-3-8: Confederate Memorial Day, the fourth Monday in April.
    "confederate_memorial": _weekday(4, MON, 4),
    "ri_independence": _fixed(5, 4),
    "memorial": _weekday(5, MON, -1),
    # Ala. Code 1-3-8: Jefferson Davis' birthday, the first Monday in June.
    "jefferson_davis": _weekday(6, MON, 1),
    "flag_day": _fixed(6, 14),
    "juneteenth": _fixed(6, 19),
    "juneteenth_ut": _utah_juneteenth,
    "independence": _fixed(7, 4),
    "pioneer_day": _fixed(7, 24),
    # La. R.S. 1:55(A)(1): August 30, Huey P. Long Day; November 1, All Saints' Day.
    "huey_long": _fixed(8, 30),
    "victory_day": _weekday(8, MON, 2),
    "labor": _weekday(9, MON, 1),
    "columbus": _weekday(10, MON, 2),
    # The Tuesday after the first Monday of November, every year (odd years too).
    "election_day": _weekday(11, MON, 1, shift=1),
    "all_saints": _fixed(11, 1),
    "veterans": _fixed(11, 11),
    "thanksgiving": _weekday(11, THU, 4),
    "day_after_thanksgiving": _weekday(11, THU, 4, shift=1),
    "rosa_parks": _fixed(12, 1),
    "christmas": _fixed(12, 25),
}

#: Years whose holidays a schedule closes: far more than the year and a bit that any
#: search of ``domain.time`` looks ahead.
YEARS = range(2020, 2051)


@functools.cache
def closed_dates(names: tuple[str, ...]) -> frozenset[date]:
    """Every date in :data:`YEARS` on which one of the named holidays falls (or is observed)."""
    unknown = [name for name in names if name not in HOLIDAYS]
    if unknown:
        raise ValueError(f"unknown holidays {unknown}; known: {sorted(HOLIDAYS)}")
    return frozenset(day for name in names for year in YEARS for day in HOLIDAYS[name](year))
