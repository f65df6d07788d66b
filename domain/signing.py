"""HMAC-SHA256 signatures of provider traffic (dial requests and status callbacks).

Header ``X-Batchdial-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256(secret, ``"<t>.<dial id>." + body``). The timestamp bounds replay (a
signature older or newer than the tolerance is refused); the dial id binds the
signature to one dial, so a callback captured for one dial cannot end another.

The time a signature is checked against comes from a :class:`Clock` (``create_app(clock=)``):
:data:`SYSTEM_CLOCK` in service, :class:`FixedClock` in tests, so that a boundary test
(exactly 300 s ahead: accepted; 301 s: refused) does not depend on when it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Protocol

SIGNATURE_HEADER = "X-Batchdial-Signature"
TOLERANCE_S = 300


class Clock(Protocol):
    """Where "now" comes from for signature checks."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    """The host's clock (``time.time``)."""

    def time(self) -> float:
        """Seconds since the epoch, now."""
        return time.time()


class FixedClock:
    """A clock that reads what it was set to, and moves only when told (tests, demos)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def time(self) -> float:
        """The time it was set to."""
        return self.at

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on (negative: back)."""
        self.at += seconds


SYSTEM_CLOCK: Clock = SystemClock()

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def sign(secret: str, dial_id: str, body: bytes, at: int | None = None) -> str:
    """The header value that signs ``body`` for ``dial_id`` at ``at`` (default: now)."""
    t = int(time.time()) if at is None else at
    base = f"{t}.{dial_id}.".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(
    secret: str, dial_id: str, body: bytes, header: str | None, now: float | None = None
) -> str | None:
    """None if ``header`` signs ``body`` for ``dial_id`` within the tolerance of ``now``
    (seconds since the epoch; default: the system clock); else why not. A signature
    exactly TOLERANCE_S seconds old or ahead is accepted."""
    if not header:
        return f"the {SIGNATURE_HEADER} header is missing"
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not _TIMESTAMP.match(t) or not _DIGEST.match(v1):
        return f"the {SIGNATURE_HEADER} header must read t=<unix seconds>,v1=<64 hex digits>"
    current = time.time() if now is None else now
    if abs(current - int(t)) > TOLERANCE_S:
        return f"the signature is older or newer than {TOLERANCE_S} seconds"
    expected = sign(secret, dial_id, body, int(t)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, v1):
        return "the signature does not match the body"
    return None
