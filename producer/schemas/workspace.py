"""Pydantic models of the workspace-level requests: the suppression list and settings.

Kept apart from :mod:`producer.schemas.jobs` (the job bodies); the same rules apply: camelCase
wire names, unknown fields refused, strict types, every problem reported with its path
(``numbers[3]``).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, StrictInt, StrictStr, field_validator

from domain.pacing import MAX_DIALS_PER_SECOND, MIN_DIALS_PER_SECOND
from producer import validation as v
from producer.schemas.base import E164Number, StrictIn

#: Numbers one ``POST /api/suppressions`` may carry (as many as rows in a job).
MAX_NUMBERS_PER_REQUEST = 100_000
#: Longest ``reason`` of a suppression.
MAX_REASON_CHARS = 500
#: Bounds of ``maxCallsPerNumberPerDay``.
MIN_CALLS_PER_DAY, MAX_CALLS_PER_DAY = 1, 1000
#: Highest ``reservedInboundDials`` (the dial limit bounds it further).
MAX_RESERVED = 100_000


class SuppressionsAdd(StrictIn):
    """Body of ``POST /api/suppressions``: numbers never to dial, and why."""

    numbers: list[E164Number] = Field(
        min_length=1,
        json_schema_extra={"maxItems": MAX_NUMBERS_PER_REQUEST},
    )
    reason: StrictStr | None = Field(
        default=None,
        max_length=MAX_REASON_CHARS,
        examples=["asked not to be called"],
        json_schema_extra={"pattern": v.TEXT_PATTERN},
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        return None if value is None else v.check_text_value(value)

    @field_validator("numbers", mode="before")
    @classmethod
    def _count(cls, value: object) -> object:
        # Checked before the items, so that an oversized list costs no number parsing.
        if isinstance(value, list) and len(value) > MAX_NUMBERS_PER_REQUEST:
            raise v.fail(
                "too_many_numbers",
                f"has {len(value)} numbers; at most {MAX_NUMBERS_PER_REQUEST} are allowed "
                "in one request (send the rest in further requests)",
            )
        return value

    def unique_numbers(self) -> list[str]:
        """The E.164 numbers, each once, in the order first given."""
        return list(dict.fromkeys(self.numbers))


class WorkspaceUpdate(StrictIn):
    """Body of ``PATCH /api/workspace``: only the fields given change; null turns one off."""

    # At least one setting: the document says so (parse_update refuses an empty body).
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"minProperties": 1})

    maxCallsPerNumberPerDay: StrictInt | None = Field(  # noqa: N815 -- wire names are camelCase
        default=None,
        ge=MIN_CALLS_PER_DAY,
        le=MAX_CALLS_PER_DAY,
        description=(
            "calls to one number allowed in any rolling 24 h across the workspace's jobs; "
            "null turns the cap off"
        ),
    )
    reservedInboundDials: StrictInt | None = Field(  # noqa: N815 -- wire names are camelCase
        default=None,
        ge=1,
        le=MAX_RESERVED,
        description=(
            "slots of the dial limit that outbound jobs never take (kept for inbound "
            "calls); below the dial limit and leaving room for every unfinished job's "
            "maxConcurrentDials; null turns it off"
        ),
    )
    quarantineBelowAnswerRate: float | None = Field(  # noqa: N815 -- wire names are camelCase
        default=None,
        gt=0,
        le=1,
        description=(
            "rest a pool number for a day when its answer rate over the last 24 h (at "
            "least 20 dials) is under this fraction; null turns it off"
        ),
    )
    maxDialsPerSecond: StrictInt | None = Field(  # noqa: N815 -- wire names are camelCase
        default=None,
        ge=MIN_DIALS_PER_SECOND,
        le=MAX_DIALS_PER_SECOND,
        description=(
            "dial starts allowed in any one-second window across the workspace's jobs "
            "(a carrier's calls-per-second limit); null turns pacing off"
        ),
    )


#: Request bodies of the workspace routes, for the OpenAPI document's components.
BODY_MODELS = (SuppressionsAdd, WorkspaceUpdate)
