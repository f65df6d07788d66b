"""Request and response models of the webhook endpoints (SPEC §8.2)."""

# ruff: noqa: N815 -- wire names are camelCase

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictStr,
)
from pydantic_core import PydanticCustomError

from domain.webhooks.events import MAX_PATTERNS, all_patterns, pattern_problem
from producer.schemas.base import StrictIn, never_null


def _check_pattern(value: str) -> str:
    problem = pattern_problem(value)
    if problem is not None:
        raise PydanticCustomError("webhook_event", problem)
    return value


EventPattern = Annotated[
    StrictStr,
    Field(
        examples=["dial.finished", "row.*", "*"],
        json_schema_extra={"enum": list[JsonValue](all_patterns())},
    ),
    AfterValidator(_check_pattern),
]
#: ``format: webhook-url``: an https:// URL whose host resolves only to public addresses
#: (``BATCHDIAL_WEBHOOK_ALLOW_PRIVATE`` allows http:// and private ones): a rule no JSON
#: Schema keyword states; the conformance run's hooks know it (tests/abuse/st_hooks.py).
WebhookUrl = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=2048,
        # No example: an example URL would be resolved (the conformance run's examples).
        json_schema_extra={"format": "webhook-url"},
    ),
]
Description = Annotated[StrictStr, Field(max_length=256)]


class WebhookCreate(StrictIn):
    """``POST /api/webhooks``: where to send which events."""

    url: WebhookUrl
    events: list[EventPattern] = Field(min_length=1, max_length=MAX_PATTERNS)
    description: Description | None = None
    enabled: StrictBool = True


class WebhookUpdate(StrictIn):
    """``PATCH /api/webhooks/{id}``: the fields given change (``description: null`` clears)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=never_null("url", "events", "enabled")
    )

    url: WebhookUrl | None = None
    events: list[EventPattern] | None = Field(None, min_length=1, max_length=MAX_PATTERNS)
    description: Description | None = None
    enabled: StrictBool | None = None


class WebhookOut(BaseModel):
    """An endpoint; ``secret`` only in the answers of create and rotate-secret."""

    id: str = Field(examples=["wh_3f2a9c1e5b7d4a60"])
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    createdAt: str
    disabledReason: str | None = None
    secret: str | None = Field(None, examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])


class WebhookPage(BaseModel):
    """A page of endpoints."""

    data: list[WebhookOut]
    nextCursor: str | None = None


class DeliveryAttempt(BaseModel):
    """One attempt to deliver one event to one endpoint."""

    id: str
    deliveryId: str
    webhookId: str
    eventType: str
    attempt: int
    outcome: str = Field(examples=["delivered", "retrying", "failed"])
    statusCode: int | None = None
    latencyMs: int | None = None
    error: str | None = None
    nextAttemptAt: str | None = None
    at: str


class DeliveryPage(BaseModel):
    """A page of attempts, newest first."""

    data: list[DeliveryAttempt]
    nextCursor: str | None = None


class DeliveryRetry(BaseModel):
    """A delivery made due again by ``POST .../deliveries/{deliveryId}/retry``."""

    deliveryId: str
    status: str = Field(examples=["pending"])
    previousStatus: str | None = None
    attempts: int
    nextAttemptAt: str
