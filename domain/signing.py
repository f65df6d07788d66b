"""HMAC-SHA256 signatures of provider traffic (dial requests and status callbacks).

Header ``X-Batchdial-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256(secret, ``"<t>." + body``). A signature older or newer than the
tolerance is refused, so a captured callback cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Batchdial-Signature"
TOLERANCE_S = 300


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The header value that signs ``body`` at ``at`` (default: now)."""
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> str | None:
    """None if ``header`` signs ``body`` within the tolerance; otherwise why not."""
    if not header:
        return f"the {SIGNATURE_HEADER} header is missing"
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not v1:
        return f"the {SIGNATURE_HEADER} header must read t=<unix seconds>,v1=<hex>"
    current = time.time() if now is None else now
    if abs(current - int(t)) > TOLERANCE_S:
        return f"the signature is older or newer than {TOLERANCE_S} seconds"
    expected = sign(secret, body, int(t)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, v1):
        return "the signature does not match the body"
    return None
