"""The job field ``preDialWebhook`` (SPEC §8.2, docs/webhooks.md "Pre-dial check").

Its ``url`` is checked as an endpoint's is (https only, a host resolving to public
addresses only, unless ``BATCHDIAL_WEBHOOK_ALLOW_PRIVATE``): the schema checks the
form here, :class:`producer.jobs.JobCommands` resolves the host.
"""

# ruff: noqa: N815 -- wire names are camelCase

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from producer.schemas.base import StrictIn
from producer.schemas.webhooks import WebhookUrl

#: The hook's timeout bounds (ms): the slot is held at most this long waiting for it.
MIN_TIMEOUT_MS = 100
MAX_TIMEOUT_MS = 10_000
DEFAULT_TIMEOUT_MS = 3_000


class PreDialIn(StrictIn):
    """Asked before each dial: ``dial``, ``skip`` the row, or ``defer`` it."""

    url: WebhookUrl
    timeoutMs: StrictInt = Field(
        DEFAULT_TIMEOUT_MS,
        ge=MIN_TIMEOUT_MS,
        le=MAX_TIMEOUT_MS,
        description="how long to wait for the answer (the slot is held meanwhile)",
    )
    onTimeout: Literal["dial", "skip", "defer"] = Field(
        "dial", description="what a timeout, a non-2xx answer or a bad answer means"
    )
