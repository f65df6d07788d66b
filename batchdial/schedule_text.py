"""A weekly schedule written for people: ``Mon-Fri 09:00-17:00 America/New_York``.

The form (``batchdial jobs create --schedule``)::

    DAYS TIMES [; DAYS TIMES]... [TIMEZONE]

- ``DAYS``: a day (``Mon``, ``monday``), a range (``Mon-Fri``; ``Fri-Mon`` wraps over the
  weekend), a comma list (``Mon,Wed,Fri``), or ``daily`` (every day);
- ``TIMES``: ``HH:MM-HH:MM``, several separated by commas (``09:00-12:00,13:00-17:00``);
  ``24:00`` ends a day;
- ``TIMEZONE``: an IANA name, last (or given with ``--timezone``).

The JSON of the API's ``schedule`` field is accepted as it is. The result is the API's
``schedule`` object; the API validates slots (empty, overlapping) as at any create.
"""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

#: dayOfWeek of the API: 0 = Sunday ... 6 = Saturday.
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_TIMES = re.compile(r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}(,\d{1,2}:\d{2}-\d{1,2}:\d{2})*$")


class ScheduleTextError(ValueError):
    """Raised when a schedule text cannot be read; the message says what was expected."""


_FULL = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _day(word: str) -> int:
    name = word.strip().lower()
    for index, full in enumerate(_FULL):
        if len(name) >= 3 and full.startswith(name):
            return index
    raise ScheduleTextError(f"{word!r} is not a day: write Mon, Tue, ... Sun (or Monday ...)")


def _days(token: str) -> list[int]:
    if token.lower() in {"daily", "everyday"}:
        return list(range(7))
    days: list[int] = []
    for part in token.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            start, end = _day(first), _day(last)
            span = (end - start) % 7
            days.extend((start + i) % 7 for i in range(span + 1))
        else:
            days.append(_day(part))
    return days


def _hhmm(text: str) -> str:
    hours, _, minutes = text.partition(":")
    return f"{int(hours):02d}:{minutes}"


def _is_zone(token: str) -> bool:
    if "/" not in token and token.upper() not in {"UTC", "GMT"}:
        return False
    try:
        ZoneInfo(token)
    except (ZoneInfoNotFoundError, ValueError):
        return token in available_timezones()
    return True


def parse_schedule(text: str, timezone: str | None = None) -> dict[str, Any]:
    """The API's ``schedule`` object of ``text`` (the readable form, or JSON);
    ``timezone`` (``--timezone``) fills in or must agree with the text's."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            schedule = json.loads(stripped)
        except ValueError as exc:
            raise ScheduleTextError(f"the schedule looks like JSON but is not: {exc}") from None
        if not isinstance(schedule, dict):
            raise ScheduleTextError('a JSON schedule is an object: {"days": [...], ...}')
        return _with_zone(schedule, schedule.get("timezone"), timezone)
    tokens = stripped.replace(";", " ; ").split()
    zone = None
    if tokens and _is_zone(tokens[-1]):
        zone = tokens.pop()
    slots = _slots(tokens, text)
    if not slots:
        raise ScheduleTextError(
            f"no calling times in {text!r}: write e.g. 'Mon-Fri 09:00-17:00 America/New_York'"
        )
    days = [
        {"dayOfWeek": day, "timeSlots": sorted(day_slots, key=lambda s: s["startTime"])}
        for day, day_slots in sorted(slots.items())
    ]
    return _with_zone({"days": days}, zone, timezone)


_SEPARATOR = ";"


def _slots(tokens: list[str], text: str) -> dict[int, list[dict[str, str]]]:
    """The time slots of each day (0 = Sunday) that ``tokens`` give."""
    slots: dict[int, list[dict[str, str]]] = {}
    current: list[int] | None = None
    timed = False
    for token in tokens:
        if token == _SEPARATOR:
            if current is not None and not timed:
                raise ScheduleTextError(f"days without times before ';' in {text!r}")
            current, timed = None, False
        elif _TIMES.match(token):
            if current is None:
                raise ScheduleTextError(
                    f"{token!r} comes before any day: write e.g. 'Mon-Fri {token}'"
                )
            for span in token.split(","):
                start, _, end = span.partition("-")
                for day in current:
                    slots.setdefault(day, []).append(
                        {"startTime": _hhmm(start), "endTime": _hhmm(end)}
                    )
            timed = True
        else:
            if timed or current is None:
                current, timed = [], False
            current.extend(_days(token))
    if current is not None and not timed:
        raise ScheduleTextError(f"the days {tokens[-1]!r} have no times: add e.g. 09:00-17:00")
    return slots


def _with_zone(schedule: dict[str, Any], given: Any, option: str | None) -> dict[str, Any]:
    if option is not None and given is not None and option != given:
        raise ScheduleTextError(
            f"the schedule says {given} and --timezone says {option}: give one of them"
        )
    zone = given if given is not None else option
    if zone is None:
        raise ScheduleTextError(
            "the schedule needs a timezone: end it with one "
            "('Mon-Fri 09:00-17:00 America/New_York') or give --timezone"
        )
    return {**schedule, "timezone": zone}


def describe_schedule(schedule: dict[str, Any] | None) -> str:
    """The readable form of an API ``schedule`` (what ``jobs get`` prints)."""
    if not schedule:
        return "any time (no schedule)"
    by_times: dict[str, list[int]] = {}
    for day in schedule.get("days", []):
        times = ",".join(f"{s['startTime']}-{s['endTime']}" for s in day.get("timeSlots", []))
        if times:
            by_times.setdefault(times, []).append(int(day["dayOfWeek"]))
    parts = [f"{_day_list(days)} {times}" for times, days in by_times.items()]
    return "; ".join(parts) + f" {schedule.get('timezone', '')}".rstrip()


def _day_list(days: list[int]) -> str:
    ordered = sorted(set(days))
    if len(ordered) == 7:
        return "daily"
    names = [DAYS[d].capitalize() for d in ordered]
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{names[0]}-{names[-1]}"
    return ",".join(names)
