"""LiveKit's access tokens: the ones batchdial signs for its server API calls and the
ones LiveKit signs its webhooks with. Both are JWTs signed HS256 with the API secret,
the API key as issuer (``iss``), and an expiry (``exp``); PyJWT does the signing and
the signature check.

* API calls (docs.livekit.io, "Server APIs": ``Authorization: Bearer <token>``): the
  grants say what the token may do. LiveKit's server checks ``video.roomCreate`` for
  CreateRoom/DeleteRoom, ``video.roomAdmin`` with ``video.room`` equal to the request's
  room for CreateDispatch and ListParticipants, and ``sip.call`` for
  CreateSIPParticipant (pkg/service/auth.go of github.com/livekit/livekit). A dial's
  token grants exactly that, for its own room only.
* Webhooks (docs.livekit.io, "Webhooks"): the ``Authorization`` header is the token
  itself; its ``sha256`` claim is the base64 SHA-256 of the raw body, and it is valid
  for 5 minutes (webhook/url_notifier.go of github.com/livekit/protocol).
  :func:`verify_webhook` checks exactly what LiveKit's own receivers check
  (webhook/verifier.go; the Python SDK's ``WebhookReceiver``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any, TypeGuard

import jwt

from domain.errors import Unauthorized

#: How long a token batchdial signs for one API call is valid (seconds).
API_TOKEN_TTL_S = 600
#: Clock difference tolerated on a webhook token's ``exp`` and ``nbf`` (seconds): what
#: LiveKit's Python SDK allows (``TokenVerifier``'s default leeway).
LEEWAY_S = 60


def api_token(api_key: str, api_secret: str, *, room: str, now: float) -> str:
    """A token for the API calls of one dial: create/delete its room, dispatch into it,
    list it, and place a SIP call (``sip.call``; SIP ``admin``, which manages trunks and
    dispatch rules, is not needed and not granted)."""
    claims: dict[str, Any] = {
        "iss": api_key,
        "nbf": int(now),
        "exp": int(now) + API_TOKEN_TTL_S,
        "video": {"roomCreate": True, "roomAdmin": True, "room": room},
        "sip": {"call": True},
    }
    return jwt.encode(claims, api_secret, algorithm="HS256")


def body_hash(body: bytes) -> str:
    """The ``sha256`` claim of a webhook carrying ``body``."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def verify_webhook(
    token: str | None, body: bytes, *, api_key: str, api_secret: str, now: float
) -> dict[str, Any]:
    """The claims of a webhook's token, if LiveKit signed it for this body; raises
    :class:`~domain.errors.Unauthorized` saying what is wrong otherwise.

    Checked: HS256 only, the signature with the API secret, ``iss`` = the API key,
    ``exp`` present and not past (``nbf`` not ahead) beyond :data:`LEEWAY_S` of ``now``,
    and ``sha256`` equal to the hash of the raw bytes received.
    """
    if not token:
        raise Unauthorized("no Authorization header: LiveKit signs every webhook")
    token = token.removeprefix("Bearer ").strip()
    try:
        claims = jwt.decode(
            token,
            api_secret,
            algorithms=["HS256"],
            issuer=api_key,
            options={
                "require": ["exp", "iss"],
                # Times are checked below against ``now`` (the API's clock).
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(
            f"the webhook token is not valid ({type(exc).__name__}): it must be signed "
            "HS256 with BATCHDIAL_LIVEKIT_API_SECRET, issued by BATCHDIAL_LIVEKIT_API_KEY"
        ) from None
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not _number(exp) or exp + LEEWAY_S < now:
        raise Unauthorized("the webhook token has expired")
    if nbf is not None and (not _number(nbf) or nbf - LEEWAY_S > now):
        raise Unauthorized("the webhook token is not valid yet")
    claimed = claims.get("sha256")
    if not isinstance(claimed, str) or not claimed:
        raise Unauthorized("the webhook token has no sha256 claim")
    try:
        digest = base64.b64decode(claimed, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("the webhook token's sha256 claim is not base64") from None
    if not hmac.compare_digest(digest, hashlib.sha256(body).digest()):
        raise Unauthorized("the body does not match the webhook token's sha256 claim")
    return claims


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
