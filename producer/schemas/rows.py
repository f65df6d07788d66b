"""Request models of the rows routes (SPEC §8.3, issue 17): append and retry by outcome."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from producer.schemas.base import StrictIn
from producer.schemas.jobs import RowIn


class RowsIn(StrictIn):
    """JSON body of ``POST /api/batch_dial_jobs/{id}/rows`` (NDJSON and CSV send the same
    rows one a line)."""

    rows: list[RowIn] = Field(min_length=1)


#: What a manual retry may name: a finished dial's status, or ``suppressed``.
RetryOutcome = Literal[
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "voicemail",
    "opted-out",
    "suppressed",
]


class RetryRowsIn(StrictIn):
    """Body of ``POST /api/batch_dial_jobs/{id}/retry``: the outcomes whose rows go back to
    the queue."""

    outcomes: list[RetryOutcome] = Field(min_length=1, max_length=8)
