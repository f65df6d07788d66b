"""What every request model shares: the strict base, the E.164 number, and the parse.

A request body is parsed in one place (:func:`parse_body`): strict JSON
(:mod:`domain.jsonbody`), then the model, every problem reported with its path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from domain.errors import InvalidInput
from domain.jsonbody import parse_json_object
from producer import validation as v

#: What the document says a phone number looks like: exactly the syntax the API accepts
#: (:data:`validation.PHONE_PATTERN`: E.164, optionally with spaces, dashes, dots or
#: parentheses). The custom format names the further check no pattern can state: the
#: number is valid and dialable, and its digits are its E.164 form.
E164_SCHEMA: dict[str, Any] = {"pattern": v.PHONE_PATTERN, "format": "e164"}


class StrictIn(BaseModel):
    """Input models refuse unknown fields, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _whole_numbers(cls, value: object, info: ValidationInfo) -> object:
        """``90.0`` for an integer field is the integer 90 (JSON Schema's ``integer`` is
        any number without a fraction, so the document says the same); every integer
        field of every request model, so that none is forgotten."""
        if info.field_name is None or (type(value) is not float and not isinstance(value, list)):
            return value  # whole_numbers_for changes only floats and lists
        return v.whole_numbers_for(cls.model_fields[info.field_name].annotation, value)


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


def parse_update(
    model: type[M], body: bytes | str | dict[str, Any], fields: str
) -> tuple[M, set[str]]:
    """An update ``body`` validated into ``model`` (as :func:`parse_body`) and the fields
    it names: at least one (``fields`` says which may be given), none of them ``null``."""
    change = parse_body(model, body)
    given = change.model_fields_set
    if not given:
        raise InvalidInput.one("", f"give {fields} to change")
    for name in given:
        if getattr(change, name) is None:
            raise InvalidInput.one(name, "may not be null (leave the field out to keep it)")
    return change, given


def never_null(*names: str, at_least_one: bool = False) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` for update bodies whose fields ``names`` may be left out
    but never be ``null`` (the Python types keep ``None`` as "not given", and the
    service refuses a ``null``): drops ``null`` from their types in the OpenAPI
    document; ``at_least_one``: the body must name a field (``minProperties: 1``)."""

    def edit(schema: dict[str, Any]) -> None:
        if at_least_one:
            schema["minProperties"] = 1
        for name in names:
            field = schema["properties"][name]
            types = [t for t in field.pop("anyOf", []) if t.get("type") != "null"]
            if types:
                field.update(types[0])
            field.pop("default", None)

    return edit
