"""The answer of ``GET /api/batch_dial_jobs/{id}/forecast`` (for the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from producer.schemas.jobs import JobStatus
from producer.schemas.responses import Instant

# ruff: noqa: N815 -- wire names are camelCase


class ForecastDay(BaseModel):
    """The dialing expected on one local day (the job's timezone)."""

    date: str = Field(description="YYYY-MM-DD in the job's timezone")
    dialingHours: float


class Forecast(BaseModel):
    """When the job is expected to finish at its current cap, pacing and schedule."""

    jobId: str
    status: JobStatus
    computedAt: Instant
    rowsLeft: int = Field(description="rows queued or in progress")
    finishAt: Instant | None = Field(
        description="when the last row is expected to be done (null: see reason)"
    )
    reason: Literal["complete", "cancelled", "never_open", "no_capacity"] | None
    assumes: str | None = Field(description="for a job not running: what is assumed")
    meanCallSeconds: float | None
    meanCallSecondsSource: Literal["measured", "default"] | None
    measuredDials: int = Field(description="ended dials the mean was measured over")
    concurrency: int = Field(description="calls at once: cap, dial limit and pool limits")
    dialsPerSecondLimit: float | None
    rowsPerHour: float = Field(description="rows done per hour of open window")
    dialingHoursNeeded: float | None
    timezone: str
    days: list[ForecastDay]
