"""Endpoint secrets and Standard Webhooks signatures (standardwebhooks.com, CARRIERS.md).

The signature is HMAC-SHA256 over ``"<webhook-id>.<webhook-timestamp>.<body>"`` keyed
with the secret's bytes (base64 after ``whsec_``), sent as ``v1,<base64>``. The
``standardwebhooks`` package signs; ``tests/unit/test_webhooks.py`` checks it against
the specification's published test vector and an independent HMAC.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the format's prefix, not a secret
#: Random bytes in a secret (the specification asks for 24 to 64).
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, webhook_id: str, timestamp_s: int, body: str) -> str:
    """The ``webhook-signature`` header of one delivery attempt."""
    # The package reads the datetime's wall clock as UTC (it replaces tzinfo), so the
    # instant must be given in UTC: fromtimestamp(tz=UTC) is.
    return Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp_s, tz=UTC), body)


def headers(secret: str, webhook_id: str, timestamp_s: int, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (plus the JSON content type)."""
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature(secret, webhook_id, timestamp_s, body),
    }
