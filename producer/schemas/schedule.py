"""Request models of a job's weekly schedule and its recipient hours (wall-clock spans in
a time zone): part of the create and update bodies (producer/schemas/jobs.py)."""

from __future__ import annotations

from itertools import pairwise
from typing import ClassVar, Self

from pydantic import (
    Field,
    JsonValue,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from domain.time.schedule import parse_hhmm
from producer import validation as v
from producer.schemas.base import StrictIn

#: ``HH:MM``, 24-hour (the document's pattern; :func:`validation.check_hhmm` enforces it).
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_HHMM_24 = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
#: An IANA time zone name (a custom format: the list is the system's tz database).
ZONE_SCHEMA: dict[str, JsonValue] = {"format": "iana-timezone"}


class _WallClockSpan(StrictIn):
    """A wall-clock span [startTime, endTime) within one day (``24:00`` may end it)."""

    #: What to tell a user whose span crosses midnight.
    _midnight_hint: ClassVar[str] = ""

    startTime: StrictStr = Field(examples=["09:00"], json_schema_extra={"pattern": _HHMM})  # noqa: N815 -- wire names are camelCase
    endTime: StrictStr = Field(examples=["17:00"], json_schema_extra={"pattern": _HHMM_24})  # noqa: N815

    @field_validator("startTime")
    @classmethod
    def _start(cls, value: str) -> str:
        return v.check_hhmm(value, allow_24=False)

    @field_validator("endTime")
    @classmethod
    def _end(cls, value: str) -> str:
        return v.check_hhmm(value, allow_24=True)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if parse_hhmm(self.endTime, allow_24=True) <= parse_hhmm(self.startTime, allow_24=False):
            raise v.fail(
                "slot",
                f"endTime {self.endTime} must be after startTime {self.startTime} "
                f"({self._midnight_hint})",
            )
        return self


class TimeSlotIn(_WallClockSpan):
    """One wall-clock slot [startTime, endTime) of a day."""

    _midnight_hint: ClassVar[str] = "a slot over midnight is written as two slots"

    @property
    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes since local midnight."""
        return parse_hhmm(self.startTime, allow_24=False), parse_hhmm(self.endTime, allow_24=True)


class DayIn(StrictIn):
    """The slots of one day of the week (0 = Sunday … 6 = Saturday)."""

    dayOfWeek: StrictInt = Field(ge=0, le=6)  # noqa: N815
    timeSlots: list[TimeSlotIn] = Field(max_length=48)  # noqa: N815

    @field_validator("dayOfWeek", mode="before")
    @classmethod
    def _day_in_week(cls, value: object) -> object:
        # Before the bounds of the field, so that the message says how days are numbered
        # (issue 18: "Input should be less than or equal to 6" did not).
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= 6:
            raise v.fail(
                "day_of_week",
                f"must be 0 = Sunday, 1 = Monday … 6 = Saturday, got {value}",
            )
        return value

    @model_validator(mode="after")
    def _no_overlap(self) -> DayIn:
        ordered = sorted(enumerate(self.timeSlots), key=lambda item: item[1].minutes)
        for (i, a), (j, b) in pairwise(ordered):
            if b.minutes[0] < a.minutes[1]:
                raise v.fail(
                    "overlap",
                    f"timeSlots[{i}] ({a.startTime}-{a.endTime}) and timeSlots[{j}] "
                    f"({b.startTime}-{b.endTime}) overlap",
                )
        return self


class ScheduleIn(StrictIn):
    """A weekly calling schedule in an IANA timezone."""

    days: list[DayIn] = Field(max_length=70)
    timezone: StrictStr = Field(examples=["America/New_York"], json_schema_extra=ZONE_SCHEMA)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return v.check_timezone(value)

    @model_validator(mode="after")
    def _days_once(self) -> ScheduleIn:
        seen: dict[int, int] = {}
        for i, day in enumerate(self.days):
            if day.dayOfWeek in seen:
                raise v.fail(
                    "day_repeated",
                    f"days[{seen[day.dayOfWeek]}] and days[{i}] both give dayOfWeek "
                    f"{day.dayOfWeek}; list each day once with all its timeSlots",
                )
            seen[day.dayOfWeek] = i
        return self


class HoursIn(_WallClockSpan):
    """Calling hours in each recipient's local time, every day: [startTime, endTime)."""

    _midnight_hint: ClassVar[str] = "recipient hours cannot span midnight"
