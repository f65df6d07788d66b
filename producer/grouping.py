"""Grouping a job's rows by their recipients' time zones (jobs with recipientHours).

Rows whose recipients share the same set of possible zones wait and wake together, so
that rows outside their hours never block the others. A row's zones come from its
``timezone`` when given, else from its number (phonenumbers' data; a number may map to
several zones, and then every one must be inside the hours), else the job's timezone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidInput, Problem
from domain.stored_config import schedule_of
from domain.time.eligibility import (
    JOB_ZONE,
    Hours,
    group_schedules,
    never_together,
    next_eligible,
)
from domain.time.zones import zones_for_number
from producer.schemas.jobs import JobCreate, RowIn

#: Where a group's zones come from.
SOURCES = ("number", "row", "job")


@dataclass(frozen=True, slots=True)
class Group:
    """Rows sharing one set of recipient zones."""

    zones: tuple[str, ...]
    source: str
    first_row: int | None = None
    rows: int = 0

    def stored(self) -> str:
        """The JSON kept in the job's ``groups`` hash."""
        return json.dumps({"zones": list(self.zones), "source": self.source})


@dataclass(slots=True)
class Grouping:
    """The groups of one job (id -> group) and each row's group id."""

    groups: dict[str, Group] = field(default_factory=dict)
    row_groups: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, spec: JobCreate) -> Grouping:
        """Group the rows of a job being created."""
        return cls.of_rows(spec.rows)

    @classmethod
    def of_rows(cls, rows: Sequence[RowIn]) -> Grouping:
        """Group ``rows`` (ids "1", "2"... in order of first appearance)."""
        ids: dict[tuple[str, tuple[str, ...]], str] = {}
        firsts: dict[str, int] = {}
        counts: dict[str, int] = {}
        row_groups = []
        for i, row in enumerate(rows):
            key = group_key(row)
            gid = ids.setdefault(key, str(len(ids) + 1))
            firsts.setdefault(gid, i)
            counts[gid] = counts.get(gid, 0) + 1
            row_groups.append(gid)
        groups = {
            gid: Group(zones, source, firsts[gid], counts[gid])
            for (source, zones), gid in ids.items()
        }
        return cls(groups, row_groups)

    @classmethod
    def from_stored(cls, raw: dict[str, str]) -> Grouping:
        """The groups of a stored job (without row details)."""
        groups = {}
        for gid, text in raw.items():
            data = json.loads(text)
            groups[gid] = Group(tuple(data["zones"]), str(data["source"]))
        return cls(groups)

    def stored(self) -> dict[str, str]:
        """Group id -> JSON, for the job's ``groups`` hash."""
        return {gid: group.stored() for gid, group in self.groups.items()}


def group_key(row: RowIn) -> tuple[str, tuple[str, ...]]:
    """Where a row's recipient zones come from and what they are (its group's identity)."""
    if row.timezone:
        return ("row", (row.timezone,))
    zones = zones_for_number(row.toNumber)
    return ("number", zones) if zones else ("job", (JOB_ZONE,))


def check_groups(grouping: Grouping, config: dict[str, Any]) -> None:
    """Refuse recipient hours that some group's rows could never be called in: its
    zones never share the hours, or the hours never meet the job's schedule. Names the
    first such row and how many more there are (a job with such rows never completes)."""
    raw = config["recipientHours"]
    hours = Hours.parse(raw["startTime"], raw["endTime"])
    job_zone = config["schedule"]["timezone"] if config.get("schedule") else "UTC"
    job_schedule = schedule_of(config)
    now = datetime.now(UTC)
    span = f"{raw['startTime']}-{raw['endTime']}"
    problems = []
    for group in grouping.groups.values():
        zones = ", ".join(group.zones[:6]) + (" ..." if len(group.zones) > 6 else "")
        if never_together(group.zones, hours, job_zone, now):
            message = (
                f"its number may be in any of {len(group.zones)} time zones ({zones}) whose "
                f"local {span} never overlap, so it could never be called inside "
                "recipientHours; give the row a 'timezone'"
            )
        elif next_eligible([job_schedule, *group_schedules(group.zones, hours, job_zone)], now):
            continue
        else:
            where = job_zone if group.zones == (JOB_ZONE,) else zones
            message = (
                f"{span} in its time zone ({where}) never falls inside the job's schedule, "
                "so it could never be called; change the schedule or recipientHours"
            )
        if group.first_row is None:
            problems.append(Problem("recipientHours", f"rows in zones {zones}: {message}"))
            continue
        path = "timezone" if group.source == "row" else "toNumber"
        more = f" ({group.rows - 1} more rows share these zones)" if group.rows > 1 else ""
        problems.append(Problem(f"rows[{group.first_row}].{path}", message + more))
    if problems:
        raise InvalidInput(problems)
