"""The PATCH bodies of the operator's workspaces and of phone numbers (parse_update)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from domain.errors import InvalidInput
from producer.schemas.admin import AdminWorkspaceUpdate
from producer.schemas.base import parse_update
from producer.schemas.numbers import PhoneNumberUpdate

CASES: list[tuple[type[BaseModel], str]] = [
    (AdminWorkspaceUpdate, "dialLimit or disabled"),
    (PhoneNumberUpdate, "maxConcurrentDials or resting"),
]


@pytest.mark.parametrize(("model", "fields"), CASES)
def test_an_update_must_name_a_field(model: type[BaseModel], fields: str) -> None:
    """``{}`` is refused at the body's root, naming what may be changed."""
    with pytest.raises(InvalidInput) as caught:
        parse_update(model, {}, fields)
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("", f"give {fields} to change")
    ]


@pytest.mark.parametrize(
    ("model", "body"),
    [(AdminWorkspaceUpdate, {"disabled": None}), (PhoneNumberUpdate, {"resting": None})],
)
def test_a_null_field_is_refused_by_name(model: type[BaseModel], body: dict[str, Any]) -> None:
    """A ``null`` is not "leave it": the field is named."""
    with pytest.raises(InvalidInput) as caught:
        parse_update(model, body, "anything")
    [name] = body
    assert [(p.path, p.message) for p in caught.value.problems] == [
        (name, "may not be null (leave the field out to keep it)")
    ]


def test_the_fields_given_come_back_with_the_model() -> None:
    """The parsed body and exactly the fields it named."""
    change, given = parse_update(PhoneNumberUpdate, {"resting": True}, "x")
    assert isinstance(change, PhoneNumberUpdate) and change.resting is True
    assert given == {"resting"}
