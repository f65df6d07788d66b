"""An independent reading of ``domain/rules/us_states.json`` for the tests: whether the
law (the federal hours and the recipient's state rule) allows a call at an instant, in
each of the recipient's zones, computed directly from the table's text (no schedule
code of domain.time)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.rules.holidays import closed_dates

TABLE = json.loads((Path(__file__).parents[2] / "domain/rules/us_states.json").read_text())
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _state(state: str | None) -> dict[str, object] | None:
    return next((s for s in TABLE["states"] if s["state"] == state), None)


def allowed(at: datetime, zones: list[str] | tuple[str, ...], state: str | None) -> bool:
    """Whether every zone's local time of ``at`` is inside the federal hours and the state's."""
    fed_start, fed_end = (_minutes(t) for t in TABLE["federal"]["hours"])
    rule = _state(state)
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        second = local.hour * 3600 + local.minute * 60 + local.second
        if not fed_start * 60 <= second < fed_end * 60:
            return False
        if rule is None:
            continue
        hours = rule["hours"]
        assert isinstance(hours, dict)
        span = hours.get(DAYS[local.weekday()], hours.get("all"))
        if span is None:
            return False
        if not _minutes(span[0]) * 60 <= second < _minutes(span[1]) * 60:
            return False
        holidays = rule["holidays"]
        assert isinstance(holidays, list)
        if local.date() in closed_dates(tuple(holidays)):
            return False
    return True


def next_allowed(at: datetime, zones: list[str], state: str | None) -> datetime | None:
    """The first whole minute from ``at`` on (within 8 days) at which :func:`allowed`."""
    moment = at.astimezone(UTC)
    if allowed(moment, zones, state):
        return moment
    moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(8 * 1440):
        if allowed(moment, zones, state):
            return moment
        moment += timedelta(minutes=1)
    return None
