"""``callingRules: "us-tcpa"``: the federal recipient-local hours and the stricter state
rules of ``us_states.json``, as schedules in the recipient's zones.

* The federal rule (08:00-21:00 in the recipient's local time) applies to every row.
* A state rule applies on top when the row's state is known: the row's ``state``, else
  the state of its number's area code (``us_area_codes.json``, made from phonenumbers'
  geocoder by ``scripts/gen_area_codes.py``). Non-geographic US codes (800, 500, ...),
  Canada and the other NANP countries have no state: the federal rule alone.
* Each day's hours are the intersection of the federal and the state's hours; a day the
  state forbids (``null``) and the state's holidays (their local dates) are closed.
* ``callsPer24h`` of the state caps the calls to one number in any rolling 24 h
  (counted across the workspace's jobs, so stricter than "on the same subject").
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import phonenumbers

from domain.rules.holidays import closed_dates
from domain.time.schedule import TimeSlot, WeeklySchedule, parse_hhmm

__all__ = [
    "RULES",
    "StateRule",
    "rule_schedules",
    "state_for_number",
    "state_rule",
]

#: The value of the job field ``callingRules`` that turns these rules on.
RULES = "us-tcpa"
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # index = dayOfWeek (0 = Sunday)
JOB_ZONE = "@job"  # as domain.time.eligibility.JOB_ZONE


@dataclass(frozen=True, slots=True)
class StateRule:
    """One state's rule (or the federal one, ``state`` None), as the table gives it."""

    state: str | None
    name: str
    #: dayOfWeek -> [start, end) minutes, or None: no calls that day.
    hours: tuple[tuple[int, int] | None, ...]
    holidays: tuple[str, ...]
    calls_per_24h: int | None
    statute: str
    source: str
    confidence: str

    def label(self) -> str:
        """How the queue view names the rule: ``us-tcpa FL (Fla. Stat. ...)``."""
        where = self.state or "federal"
        return f"{RULES} {where} ({self.statute})"


def _load(name: str) -> Any:
    return json.loads(resources.files("domain.rules").joinpath(name).read_text("utf-8"))


def _span(raw: list[str]) -> tuple[int, int]:
    return parse_hhmm(raw[0], allow_24=False), parse_hhmm(raw[1], allow_24=True)


@functools.cache
def _federal() -> StateRule:
    raw = _load("us_states.json")["federal"]
    span = _span(raw["hours"])
    return StateRule(
        None, "federal", (span,) * 7, (), None, raw["statute"], raw["source"], raw["confidence"]
    )


@functools.cache
def _states() -> dict[str, StateRule]:
    rules = {}
    federal = _federal().hours[0]
    assert federal is not None
    for raw in _load("us_states.json")["states"]:
        given = raw["hours"]
        days: list[tuple[int, int] | None] = []
        for day in _DAYS:
            span = given.get(day, given.get("all"))
            if span is None:
                days.append(None)
                continue
            start, end = _span(span)
            start, end = max(start, federal[0]), min(end, federal[1])
            days.append((start, end) if start < end else None)
        rules[raw["state"]] = StateRule(
            raw["state"],
            raw["name"],
            tuple(days),
            tuple(raw["holidays"]),
            raw["callsPer24h"],
            raw["statute"],
            raw["source"],
            raw["confidence"],
        )
    return rules


def state_rules() -> dict[str, StateRule]:
    """Every state rule of the table, by two-letter state code."""
    return dict(_states())


def state_rule(state: str | None) -> StateRule:
    """The rule that applies to a recipient in ``state``: the state's, else the federal."""
    if state is None:
        return _federal()
    return _states().get(state) or _federal()


@functools.cache
def area_codes() -> dict[str, str]:
    """US area code (three digits) -> two-letter state (or DC)."""
    return dict(_load("us_area_codes.json")["areaCodes"])


#: Two-letter codes a row's ``state`` may give: the 50 states and DC.
_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV",
    "NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC",
)
STATE_CODES = frozenset(code for line in _CODES for code in line.split(" "))


def state_for_number(e164: str) -> str | None:
    """The state of a US number's area code; None for other countries and toll-free codes."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 1 or phonenumbers.region_code_for_number(number) != "US":
        return None
    return area_codes().get(str(number.national_number)[:3])


@functools.cache
def rule_schedule(state: str | None, zone: str) -> WeeklySchedule:
    """The days and hours the rule for ``state`` allows, in ``zone`` (cached)."""
    rule = state_rule(state)
    days = {day: (TimeSlot(*span),) for day, span in enumerate(rule.hours) if span is not None}
    return WeeklySchedule(zone, days, closed_dates(rule.holidays))


def rule_schedules(
    zones: Sequence[str], state: str | None, job_zone: str
) -> tuple[WeeklySchedule, ...]:
    """One schedule per recipient zone (``JOB_ZONE`` and no zone at all mean the job's):
    all must be open for the row to be dialed."""
    names = sorted({job_zone if zone == JOB_ZONE else zone for zone in zones or (JOB_ZONE,)})
    return tuple(rule_schedule(state, name) for name in names)
