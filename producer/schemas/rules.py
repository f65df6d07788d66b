"""Request models of the calling rules (SPEC §8.5): a row's ``consent`` and ``state``,
and the job's ``callingRules``, ``purpose`` and ``callerId`` values."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictStr

from domain.rules.tcpa import STATE_CODES
from producer import validation as v
from producer.schemas.base import StrictIn

CallingRules = Literal["us-tcpa"]
Purpose = Literal["informational", "telemarketing"]
CallerId = Literal["spread", "local", "sticky"]
ConsentType = Literal["express_written", "express", "none"]


def _check_state(value: str) -> str:
    code = value.upper()
    if code not in STATE_CODES:
        raise v.fail(
            "state",
            f"{value!r} is not a US state: give its two-letter code (FL, NY, DC, ...)",
        )
    return code


#: A US state's two-letter code (upper case once parsed).
StateCode = Annotated[
    StrictStr,
    Field(
        min_length=2, max_length=2, examples=["FL"], json_schema_extra={"pattern": "^[A-Za-z]{2}$"}
    ),
    AfterValidator(_check_state),
]
_TEXT = Annotated[
    StrictStr,
    Field(min_length=1, max_length=500, json_schema_extra={"pattern": v.IDENTIFIER_PATTERN}),
    AfterValidator(v.check_identifier),
]


class ConsentIn(StrictIn):
    """The recipient's consent to be called, as the campaign owner recorded it: kept with
    the row and copied into each of its dials' ``dial.started`` events."""

    type: ConsentType
    capturedAt: _TEXT | None = Field(  # noqa: N815 -- wire names are camelCase
        default=None, description="when it was given (ISO 8601, as recorded)"
    )
    source: _TEXT | None = Field(
        default=None, description="where it was given (a form's URL, a recording's id, ...)"
    )
