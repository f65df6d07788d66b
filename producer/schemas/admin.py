"""Request models of the operator API (SPEC §8.5): ``/api/admin/workspaces``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from producer import validation as v
from producer.schemas.base import E164Number, StrictIn, never_null

#: The highest dial limit the operator API sets.
MAX_DIAL_LIMIT = 100_000
WorkspaceName = Annotated[
    StrictStr,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": v.IDENTIFIER_PATTERN}),
    AfterValidator(v.check_identifier),
]


class AdminWorkspaceCreate(StrictIn):
    """Body of ``POST /api/admin/workspaces``: as ``batchdial workspace create``."""

    name: WorkspaceName
    dialLimit: StrictInt = Field(ge=1, le=MAX_DIAL_LIMIT)  # noqa: N815
    numbers: list[E164Number] = Field(default_factory=list, max_length=1000)
    perNumberLimit: StrictInt | None = Field(default=None, ge=1, le=MAX_DIAL_LIMIT)  # noqa: N815


class AdminWorkspaceUpdate(StrictIn):
    """Body of ``PATCH /api/admin/workspaces/{id}``: the dial limit, or disable (its keys
    are refused and its jobs dial nothing) and enable it again."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=never_null("dialLimit", "disabled", at_least_one=True),
    )

    dialLimit: StrictInt | None = Field(default=None, ge=1, le=MAX_DIAL_LIMIT)  # noqa: N815
    disabled: StrictBool | None = None


BODY_MODELS = (AdminWorkspaceCreate, AdminWorkspaceUpdate)


class AdminNumber(BaseModel):
    id: str
    number: str
    maxConcurrentDials: int  # noqa: N815


class AdminWorkspace(BaseModel):
    """A workspace as the operator sees it."""

    id: str
    name: str
    dialLimit: int  # noqa: N815
    disabled: bool
    phoneNumbers: list[AdminNumber]  # noqa: N815


class AdminWorkspacePage(BaseModel):
    data: list[AdminWorkspace]
    nextCursor: str | None  # noqa: N815


class AdminWorkspaceCreated(BaseModel):
    """A new workspace: ``apiKey`` is shown only in this answer."""

    workspaceId: str  # noqa: N815
    apiKey: str  # noqa: N815
    dialLimit: int  # noqa: N815
    phoneNumbers: list[AdminNumber]  # noqa: N815
