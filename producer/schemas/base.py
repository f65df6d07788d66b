"""What every request model shares: the strict base, the E.164 number, and the parse.

A request body is parsed in one place (:func:`parse_body`): strict JSON
(:mod:`domain.jsonbody`), then the model, every problem reported with its path.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from domain.errors import InvalidInput
from domain.jsonbody import parse_json_object
from producer import validation as v

#: What the document says a phone number looks like: E.164. Stricter than what the API
#: accepts (phonenumbers also reads ``+1 212-555-0123``), never looser. The custom format
#: names the further check no pattern can state: the number is valid and dialable.
E164_SCHEMA: dict[str, Any] = {"pattern": r"^\+[1-9][0-9]{6,14}$", "format": "e164"}


class StrictIn(BaseModel):
    """Input models refuse unknown fields, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: A phone number as given, stored in its E.164 form.
E164Number = Annotated[
    StrictStr,
    Field(min_length=1, max_length=64, examples=["+12125550123"], json_schema_extra=E164_SCHEMA),
    AfterValidator(v.normalize_phone_number),
]

M = TypeVar("M", bound=BaseModel)


def parse_body(
    model: type[M], body: bytes | str | dict[str, Any], context: v.Context | None = None
) -> M:
    """``body`` (raw JSON, or an already decoded object) validated into ``model``.

    Raises :class:`~domain.errors.MalformedBody` for what is not one strict JSON object
    and :class:`~domain.errors.InvalidInput` with every problem the model finds.
    """
    data = body if isinstance(body, dict) else parse_json_object(body)
    try:
        return model.model_validate(data, context={"batchdial": context} if context else None)
    except ValidationError as exc:
        raise InvalidInput(v.problems_of(exc)) from None
