"""Grouping a job's rows by their recipients' time zones (jobs with recipientHours) and,
with ``callingRules``, by their state too.

Rows whose recipients share the same set of possible zones (and state) wait and wake
together, so that rows outside their hours never block the others. A row's zones come
from its ``timezone`` when given, else from its number (phonenumbers' data; a number may
map to several zones, and then every one must be inside the hours), else the job's
timezone. Its state (callingRules) comes from its ``state``, else its area code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidInput, Problem
from domain.rules.tcpa import state_for_number, state_rule
from domain.stored_config import hours_of, recipient_schedules, rules_of, schedule_of
from domain.time.eligibility import JOB_ZONE, never_together, next_eligible
from domain.time.zones import zones_for_number
from producer.schemas.jobs import JobCreate, RowIn

#: Where a group's zones come from.
SOURCES = ("number", "row", "job")
#: A group's identity: where its zones come from, the zones, its state and where the
#: state comes from (both None without callingRules).
GroupKey = tuple[str, tuple[str, ...], str | None, str | None]


@dataclass(frozen=True, slots=True)
class Group:
    """Rows sharing one set of recipient zones."""

    zones: tuple[str, ...]
    source: str
    first_row: int | None = None
    rows: int = 0
    #: The recipients' US state (callingRules), and whether the row or the number gave it.
    state: str | None = None
    state_source: str | None = None

    def stored(self) -> str:
        """The JSON kept in the job's ``groups`` hash (``perDay``: the state rule's calls
        per 24 h, which the claim enforces)."""
        data: dict[str, Any] = {"zones": list(self.zones), "source": self.source}
        if self.state_source is not None:
            data.update(state=self.state, stateSource=self.state_source)
            per_day = state_rule(self.state).calls_per_24h
            if per_day is not None:
                data["perDay"] = per_day
        return json.dumps(data)

    def data(self) -> dict[str, Any]:
        """The stored JSON as a dict."""
        return dict(json.loads(self.stored()))


@dataclass(slots=True)
class Grouping:
    """The groups of one job (id -> group) and each row's group id."""

    groups: dict[str, Group] = field(default_factory=dict)
    row_groups: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, spec: JobCreate) -> Grouping:
        """Group the rows of a job being created."""
        return cls.of_rows(spec.rows, ruled=spec.callingRules is not None)

    @classmethod
    def of_rows(cls, rows: Sequence[RowIn], *, ruled: bool = False) -> Grouping:
        """Group ``rows`` (ids "1", "2"... in order of first appearance); ``ruled``: the
        job has callingRules, so that each group holds one state too."""
        ids: dict[GroupKey, str] = {}
        firsts: dict[str, int] = {}
        counts: dict[str, int] = {}
        row_groups = []
        for i, row in enumerate(rows):
            gid = ids.setdefault(group_key(row, ruled=ruled), str(len(ids) + 1))
            firsts.setdefault(gid, i)
            counts[gid] = counts.get(gid, 0) + 1
            row_groups.append(gid)
        groups = {
            gid: Group(zones, source, firsts[gid], counts[gid], state, state_source)
            for (source, zones, state, state_source), gid in ids.items()
        }
        return cls(groups, row_groups)

    @classmethod
    def from_stored(cls, raw: dict[str, str]) -> Grouping:
        """The groups of a stored job (without row details)."""
        groups = {}
        for gid, text in raw.items():
            data = json.loads(text)
            groups[gid] = Group(
                tuple(data["zones"]),
                str(data["source"]),
                state=data.get("state"),
                state_source=data.get("stateSource"),
            )
        return cls(groups)

    def stored(self) -> dict[str, str]:
        """Group id -> JSON, for the job's ``groups`` hash."""
        return {gid: group.stored() for gid, group in self.groups.items()}


def group_key(row: RowIn, *, ruled: bool = False) -> GroupKey:
    """The identity of the group ``row`` belongs to (``ruled``: the job has callingRules,
    so its state, from the row or the area code, is part of it)."""
    zones: tuple[str, ...]
    if row.timezone:
        source, zones = "row", (row.timezone,)
    else:
        found = zones_for_number(row.toNumber)
        source, zones = ("number", found) if found else ("job", (JOB_ZONE,))
    if not ruled:
        return (source, zones, None, None)
    return (
        source,
        zones,
        row.state or state_for_number(row.toNumber),
        "row" if row.state else "number",
    )


def check_groups(grouping: Grouping, config: dict[str, Any]) -> None:
    """Refuse recipient hours or calling rules that some group's rows could never be
    called in: its zones never share the hours, or the hours (and the rules of its state)
    never meet the job's schedule. Names the first such row and how many more there are
    (a job with such rows never completes)."""
    hours = hours_of(config)
    raw = config.get("recipientHours") or {}
    job_zone = config["schedule"]["timezone"] if config.get("schedule") else "UTC"
    job_schedule = schedule_of(config)
    now = datetime.now(UTC)
    span = f"{raw.get('startTime')}-{raw.get('endTime')}"
    rules = rules_of(config)
    problems = []
    for group in grouping.groups.values():
        zones = ", ".join(group.zones[:6]) + (" ..." if len(group.zones) > 6 else "")
        if hours is not None and never_together(group.zones, hours, job_zone, now):
            message = (
                f"its number may be in any of {len(group.zones)} time zones ({zones}) whose "
                f"local {span} never overlap, so it could never be called inside "
                "recipientHours; give the row a 'timezone'"
            )
        elif next_eligible([job_schedule, *recipient_schedules(config, group.data())], now):
            continue
        else:
            where = job_zone if group.zones == (JOB_ZONE,) else zones
            what, change = f"{span} in its time zone ({where})", "the schedule or recipientHours"
            if rules is not None:
                rule = state_rule(group.state).label()
                what = f"the hours {rule} allows in its time zone ({where})"
                if hours is not None:
                    what += f", within recipientHours {span},"
                change = "the schedule" + (" or recipientHours" if hours is not None else "")
            message = (
                f"{what} never falls inside the job's schedule, so it could never be "
                f"called; change {change}"
            )
        if group.first_row is None:
            path = "callingRules" if hours is None else "recipientHours"
            problems.append(Problem(path, f"rows in zones {zones}: {message}"))
            continue
        path = "timezone" if group.source == "row" else "toNumber"
        if rules is not None and group.state_source == "row":
            path = "state"
        more = f" ({group.rows - 1} more rows share these zones)" if group.rows > 1 else ""
        problems.append(Problem(f"rows[{group.first_row}].{path}", message + more))
    if problems:
        raise InvalidInput(problems)
