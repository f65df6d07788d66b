"""``Idempotency-Key`` on create and append (SPEC §8.3, issue 17), as Stripe has it.

The first request with a key claims it (``SET NX``: a request in flight) and, when it
succeeds, stores its answer with the fingerprint of the request (method, path, body)
for 24 hours. The same key again with the same request answers that first answer
again; with another request, 422 naming the key; while the first is still in flight,
409. A request that fails stores nothing and frees its key, so that it can be sent
again (Stripe likewise keeps no result for a request that did not run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis

from domain.errors import Conflict, InvalidInput
from domain.keys import Keys
from producer.textrules import first_forbidden_char

#: How long a first answer is kept and replayed.
KEEP_S = 24 * 3600
#: How long a key stays claimed by a request in flight whose process died.
IN_FLIGHT_S = 3600
#: The longest key accepted.
MAX_KEY_CHARS = 255
HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored first answer of a key."""

    status: int
    body: Any


class Fingerprint:
    """A running SHA-256 of a request (method, path, then its body as it is read)."""

    def __init__(self, method: str, path: str) -> None:
        self._h = hashlib.sha256(f"{method} {path}\n".encode())

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def tee(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` as they are, each added to the fingerprint on its way."""
        for chunk in chunks:
            self._h.update(chunk)
            yield chunk

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def checked_key(key: str) -> str:
    """``key`` if it is 1 to 255 characters without control characters."""
    bad = first_forbidden_char(key)
    if not key or len(key) > MAX_KEY_CHARS or bad is not None:
        raise InvalidInput.one(
            HEADER, f"must be 1 to {MAX_KEY_CHARS} characters without control characters"
        )
    return key


class Idempotency:
    """Idempotency keys of every workspace on one Redis."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def _key(self, ws_id: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._k.ws_key(ws_id, "k_idem", digest)

    def claim(self, ws_id: str, key: str) -> dict[str, Any] | None:
        """Claim ``key`` for a request now in flight (None), or the record it already has:
        ``{"state": "pending"}`` or ``{"state": "done", "fp", "status", "body"}``."""
        name = self._key(ws_id, key)
        pending = json.dumps({"state": "pending"})
        if self._r.set(name, pending, nx=True, ex=IN_FLIGHT_S):
            return None
        raw = cast(str | None, self._r.get(name))
        if raw is None:  # it expired in between: claim it again
            return self.claim(ws_id, key)
        return cast(dict[str, Any], json.loads(raw))

    def replay(self, record: dict[str, Any], key: str, fingerprint: str) -> Replay:
        """The first answer of a key already used; 409 while it is in flight, 422 when it
        was used for another request."""
        if record.get("state") != "done":
            raise Conflict(
                f"a request with {HEADER} {key!r} is still in flight; wait for its answer"
            )
        if record.get("fp") != fingerprint:
            raise InvalidInput.one(
                HEADER,
                f"{key!r} was used for another request (another body or route) in the last "
                "24 hours; use a new key for a new request",
            )
        return Replay(int(record["status"]), record["body"])

    def store(self, ws_id: str, key: str, fingerprint: str, status: int, body: Any) -> None:
        """Keep the first answer of ``key`` for 24 hours."""
        record = {"state": "done", "fp": fingerprint, "status": status, "body": body}
        self._r.set(self._key(ws_id, key), json.dumps(record, separators=(",", ":")), ex=KEEP_S)

    def release(self, ws_id: str, key: str) -> None:
        """Free a key whose request failed (nothing is stored for it)."""
        self._r.delete(self._key(ws_id, key))
