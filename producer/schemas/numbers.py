"""Request models of the workspace's numbers and keys (SPEC §8.5): ``POST/PATCH
/api/phone_numbers``."""

from __future__ import annotations

from pydantic import ConfigDict, Field, StrictBool, StrictInt

from producer.schemas.base import E164Number, StrictIn, never_null

#: The highest per-number limit (calls a number carries at once).
MAX_PER_NUMBER = 10_000


class PhoneNumberAdd(StrictIn):
    """Body of ``POST /api/phone_numbers``: a caller-ID number and its own limit."""

    number: E164Number
    maxConcurrentDials: StrictInt = Field(ge=1, le=MAX_PER_NUMBER)  # noqa: N815


class PhoneNumberUpdate(StrictIn):
    """Body of ``PATCH /api/phone_numbers/{id}``: its limit, or rest (``resting: true``:
    no new dial uses it) and restore it by hand."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=never_null("maxConcurrentDials", "resting", at_least_one=True),
    )

    maxConcurrentDials: StrictInt | None = Field(default=None, ge=1, le=MAX_PER_NUMBER)  # noqa: N815
    resting: StrictBool | None = None


BODY_MODELS = (PhoneNumberAdd, PhoneNumberUpdate)
