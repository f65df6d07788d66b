"""Reading a job's stored configuration (the JSON in its record): its schedule, its
recipient hours, its calling rules and its own timezone, shared by the worker and the
queue view."""

from __future__ import annotations

from typing import Any

from domain.rules.tcpa import RULES, rule_schedules
from domain.time.eligibility import Hours, group_schedules
from domain.time.schedule import TimeSlot, WeeklySchedule, parse_hhmm


def schedule_of(config: dict[str, Any]) -> WeeklySchedule | None:
    """The effective schedule of a stored config (None: dial at any time)."""
    raw = config.get("schedule")
    if raw is None or config.get("disableSchedule"):
        return None
    days: dict[int, tuple[TimeSlot, ...]] = {}
    for day in raw["days"]:
        days[int(day["dayOfWeek"])] = tuple(
            TimeSlot(
                parse_hhmm(s["startTime"], allow_24=False), parse_hhmm(s["endTime"], allow_24=True)
            )
            for s in day["timeSlots"]
        )
    return WeeklySchedule(raw["timezone"], days)


def hours_of(config: dict[str, Any]) -> Hours | None:
    """The job's recipientHours, or None when it has none (or they are turned off)."""
    raw = config.get("recipientHours")
    if not raw:
        return None
    return Hours.parse(raw["startTime"], raw["endTime"])


def job_zone_of(config: dict[str, Any]) -> str:
    """The job's own timezone (rows whose number has no known zone use it)."""
    raw = config.get("schedule")
    return str(raw["timezone"]) if raw else "UTC"


def rules_of(config: dict[str, Any]) -> str | None:
    """The job's ``callingRules`` (``"us-tcpa"``), or None."""
    value = config.get("callingRules")
    return str(value) if value else None


def recipient_schedules(
    config: dict[str, Any], group: dict[str, Any]
) -> tuple[WeeklySchedule, ...]:
    """The schedules on the recipient's side of one row group (the stored JSON of the
    job's ``groups`` hash): its recipientHours in each of its zones, then (jobs with
    callingRules) the rule of its state in each zone. All must be open to dial."""
    zones = group.get("zones") or []
    job_zone = job_zone_of(config)
    out = group_schedules(zones, hours_of(config), job_zone)
    if rules_of(config) == RULES:
        out += rule_schedules(zones, group.get("state"), job_zone)
    return out
