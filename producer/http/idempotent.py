"""Routes that take an ``Idempotency-Key`` (create, append): the key claimed, the first
answer stored, replayed, or refused (:mod:`producer.idempotency`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from producer.idempotency import HEADER, Fingerprint, Idempotency, checked_key

#: Header of a replayed answer (as Stripe's ``Idempotent-Replayed``).
REPLAYED = "Idempotent-Replayed"


async def idempotent(
    request: Request,
    ws_id: str,
    fingerprint: Fingerprint,
    work: Callable[[], Awaitable[tuple[int, Any]]],
    read_rest: Callable[[], Awaitable[object]],
) -> JSONResponse:
    """Answer ``work()`` (status, JSON body), once per Idempotency-Key: a key used before
    replays its first answer once ``read_rest`` has read the body into ``fingerprint``
    (422 when the request differs, 409 while the first is in flight)."""
    raw = request.headers.get(HEADER)
    if raw is None:
        status, body = await work()
        return JSONResponse(body, status_code=status)
    key = checked_key(raw)
    keys: Idempotency = request.app.state.idempotency
    record = keys.claim(ws_id, key)
    if record is not None:
        if record.get("state") == "done":
            await read_rest()
        replay = keys.replay(record, key, fingerprint.hexdigest())
        return JSONResponse(replay.body, status_code=replay.status, headers={REPLAYED: "true"})
    try:
        status, body = await work()
    except BaseException:
        keys.release(ws_id, key)
        raise
    keys.store(ws_id, key, fingerprint.hexdigest(), status, body)
    return JSONResponse(body, status_code=status)
