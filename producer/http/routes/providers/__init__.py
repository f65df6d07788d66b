"""Carriers' own callback routes (SPEC §8.1), one module per carrier.

Each verifies the carrier's own signature over ``BATCHDIAL_PUBLIC_URL`` (refusing with
401 and changing nothing when it fails), maps the carrier's statuses onto SPEC §4.7's
in one table of its module, and applies them through :mod:`producer.dialreports`.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings


@dataclass(frozen=True, slots=True)
class CarrierAuth:
    """What the API needs to verify carriers' callbacks."""

    #: ``BATCHDIAL_PUBLIC_URL``: the base URL carriers call (and sign), no trailing slash.
    public_url: str | None = None
    #: ``BATCHDIAL_TWILIO_AUTH_TOKEN``: the key of ``X-Twilio-Signature``.
    twilio_auth_token: str | None = None
    #: ``BATCHDIAL_TELNYX_PUBLIC_KEY``: the base64 Ed25519 key of ``telnyx-signature-ed25519``.
    telnyx_public_key: str | None = None
    #: ``BATCHDIAL_TELNYX_API_KEY`` and ``_API_BASE``: to hang up on an answering machine.
    telnyx_api_key: str | None = None
    telnyx_api_base: str = "https://api.telnyx.com"
    #: ``BATCHDIAL_LIVEKIT_API_KEY``: the issuer of LiveKit's webhook tokens.
    livekit_api_key: str | None = None
    #: ``BATCHDIAL_LIVEKIT_API_SECRET``: the key LiveKit signs its webhook tokens with.
    livekit_api_secret: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CarrierAuth:
        """The carriers' verification settings of ``settings``."""
        token, telnyx_key = settings.twilio_auth_token, settings.telnyx_api_key
        livekit_secret = settings.livekit_api_secret
        return cls(
            public_url=settings.public_url,
            twilio_auth_token=token.get_secret_value() if token else None,
            telnyx_public_key=settings.telnyx_public_key,
            telnyx_api_key=telnyx_key.get_secret_value() if telnyx_key else None,
            telnyx_api_base=settings.telnyx_api_base,
            livekit_api_key=settings.livekit_api_key,
            livekit_api_secret=livekit_secret.get_secret_value() if livekit_secret else None,
        )
