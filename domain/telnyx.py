"""What the telnyx dialer (worker) and its webhook route (API) share: the dial's
``client_state`` and the Ed25519 signature of Telnyx's webhooks.

**client_state.** Telnyx echoes the Dial command's ``client_state`` (a base64 string)
in every webhook of that call (developers.telnyx.com, Call Commands, "Dial":
"Use this field to add state to every subsequent webhook. It must be a valid Base-64
encoded string"). Ours is the base64 of compact JSON ``{"dialId", "callAgentId"}``:
what finds the dial when its webhooks come, and what tells the agent who it is. The
row's ``inputs`` stay out of it (up to 50 x 1,024 characters; the Dial reference states
no size limit, so we keep the state small): the agent fetches them with
``GET /api/dials/{dialId}``. Base64 without line breaks (Python's ``b64encode``): a
state wrapped every 76 characters is cut at its first newline by Telnyx
(team-telnyx/telnyx-webrtc-android#797).

**Signature.** Every webhook carries ``telnyx-signature-ed25519`` (base64 of a 64-byte
Ed25519 signature) and ``telnyx-timestamp`` (unix seconds); the signed message is
``"{timestamp}|{raw body}"``, verified with the account's public key (Mission Control:
Keys & Credentials, Public Key; developers.telnyx.com "Webhook Fundamentals", and the
``telnyx`` SDK's ``telnyx/lib/webhook_verification.py``). A timestamp more than
:data:`TOLERANCE_S` from "now" is refused, so a captured webhook cannot be replayed
later; "now" is the caller's (the API's :class:`domain.signing.Clock`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
#: Seconds a webhook's timestamp may be off "now", either way (the SDK's verifier uses
#: the same five minutes; so do batchdial's own signatures, domain/signing.py).
TOLERANCE_S = 300
#: Ed25519 sizes (RFC 8032): a public key, a signature.
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def load_public_key(text: str) -> Ed25519PublicKey:
    """The Ed25519 public key whose base64 is ``text``; ValueError says what is wrong."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the base64 Ed25519 public key of the Telnyx account (Mission Control: Keys & "
            "Credentials, Public Key); this is not base64"
        ) from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(
            f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes; this decodes to {len(raw)} "
            "(copy the Public Key of Mission Control: Keys & Credentials)"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(
    key: Ed25519PublicKey,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
) -> str | None:
    """None if ``signature`` is Telnyx's signature of ``timestamp|body`` and the
    timestamp is within :data:`TOLERANCE_S` of ``now`` (exactly that far: accepted);
    else why not."""
    if not signature or not timestamp:
        return f"the {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers are required"
    if not _TIMESTAMP.match(timestamp):
        return f"{TIMESTAMP_HEADER} must be unix seconds"
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return f"{TIMESTAMP_HEADER} is more than {TOLERANCE_S} seconds from the API's clock"
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SIGNATURE_BYTES:
        return f"{SIGNATURE_HEADER} must be the base64 of a {SIGNATURE_BYTES}-byte signature"
    try:
        key.verify(raw, timestamp.encode("ascii") + b"|" + body)
    except InvalidSignature:
        return f"{SIGNATURE_HEADER} does not sign this body with BATCHDIAL_TELNYX_PUBLIC_KEY"
    return None


def encode_client_state(dial_id: str, call_agent_id: str) -> str:
    """The ``client_state`` of a dial: base64 of ``{"dialId", "callAgentId"}``."""
    state = json.dumps(
        {"dialId": dial_id, "callAgentId": call_agent_id},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return base64.b64encode(state.encode("utf-8")).decode("ascii")


def decode_client_state(text: object) -> dict[str, str]:
    """What :func:`encode_client_state` put in, or {} for anything else (absent,
    not base64, not our JSON): only its string members are kept."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("dialId", "callAgentId") and isinstance(v, str)}
