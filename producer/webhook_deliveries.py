"""The deliveries of one webhook endpoint as the API shows them: its attempts, newest
first, and a manual retry (SPEC §8.2).

The workers record each attempt in the endpoint's attempts stream
(``domain/lua/engine/wh_record.lua``); a page is read from the newest down, the cursor
being the id of the last attempt shown. A retry makes the delivery due now (it is
attempted once more even after its last scheduled attempt, with the same webhook-id).
"""

from __future__ import annotations

from typing import Any, cast

import redis

from domain.errors import InvalidInput, NotFound
from domain.keys import Keys
from domain.pagination import Page, check_limit, decode_cursor, encode_cursor
from domain.time.timefmt import iso_ms

#: Stream entries as the decoding client returns them.
Entries = list[tuple[str, dict[str, str]]]


def attempt_view(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """The API's object of one recorded attempt."""
    did = fields.get("d", "")
    return {
        "id": entry_id,
        "deliveryId": did,
        "webhookId": did,
        "eventType": fields.get("t", ""),
        "attempt": int(fields.get("n", 0)),
        "outcome": fields.get("o", ""),
        "statusCode": int(fields["c"]) if fields.get("c") else None,
        "latencyMs": int(fields["l"]) if fields.get("l") else None,
        "error": fields.get("err") or None,
        "nextAttemptAt": iso_ms(fields["next"]) if fields.get("next") else None,
        "at": iso_ms(int(entry_id.partition("-")[0])),
    }


class Deliveries:
    """Attempts and retries of the endpoints' deliveries, over one Redis and namespace."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def attempts(
        self, ws_id: str, webhook_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The endpoint's attempts, newest first."""
        n = check_limit(limit)
        after = decode_cursor(cursor)
        top = f"({after}" if after else "+"
        key = self._k.ws_key(ws_id, "k_wh_att", webhook_id)
        try:
            entries = cast(Entries, self._r.xrevrange(key, top, "-", count=n + 1))
        except redis.ResponseError:
            raise InvalidInput.one("cursor", "is not a cursor this list gave out") from None
        page = entries[:n]
        data = [attempt_view(str(i), f) for i, f in page]
        more = len(entries) > n
        return Page(data, encode_cursor(str(page[-1][0])) if more and page else None)

    def retry(self, ws_id: str, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        """Make a delivery of this endpoint due now; its state after."""
        key = self._k.ws_key(ws_id, "k_wh_dlv", delivery_id)
        due = self._k.ns_key("K_WH_DUE")
        queue = self._k.ws_key(ws_id, "k_wh_q", webhook_id)
        out: dict[str, Any] = {}

        def again(pipe: redis.client.Pipeline) -> None:
            ep, status, attempts = pipe.hmget(key, ["ep", "status", "attempts"])
            if ep != webhook_id:
                raise NotFound(f"no delivery {delivery_id} of webhook endpoint {webhook_id}")
            seconds, micros = pipe.time()
            now = int(seconds) * 1000 + int(micros) // 1000
            pipe.multi()
            pipe.hset(key, mapping={"status": "pending", "next": now})
            pipe.persist(key)
            pipe.zadd(queue, {delivery_id: now})
            pipe.zadd(due, {f"{ws_id}|{webhook_id}": now}, lt=True)
            out.update(
                deliveryId=delivery_id,
                status="pending",
                previousStatus=status,
                attempts=int(attempts or 0),
                nextAttemptAt=iso_ms(now),
            )

        self._r.transaction(again, key)
        return out
