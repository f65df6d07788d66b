"""A workspace's webhook endpoints (SPEC §8.2): create, list, read, update, delete,
rotate the secret.

Endpoints live in one hash per workspace (:mod:`domain.keys` ``K_WH``: id -> JSON,
secret included, since the workers sign with it). The hash existing is what makes the
event scripts copy each event to the workspace's outbox (``emit`` in
``domain/lua/_lib.lua``), so the first endpoint switches the outbox on in the same
step that stores it. The secret is shown by create and rotate-secret only.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis

from domain.errors import Conflict, InvalidInput, NotFound
from domain.keys import Keys
from domain.pagination import Page, check_limit, decode_cursor, encode_cursor
from domain.time.timefmt import iso_ms
from domain.webhooks.addresses import Resolver, system_resolver, url_problem
from domain.webhooks.events import normalized
from domain.webhooks.signing import new_secret
from producer.schemas.base import parse_body
from producer.schemas.webhooks import WebhookCreate, WebhookUpdate

#: At most this many endpoints per workspace (issue 16).
MAX_ENDPOINTS = 20
#: Fields of the stored record the API shows (the secret only on create and rotate).
SHOWN = ("id", "url", "events", "description", "enabled", "disabledReason")


def endpoint_view(record: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    """The API's object of a stored endpoint record."""
    out = {name: record.get(name) for name in SHOWN}
    out["createdAt"] = iso_ms(int(record["createdAt"]))
    if with_secret:
        out["secret"] = record["secret"]
    return out


class Webhooks:
    """The endpoints of each workspace, over one Redis and namespace."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._r = client
        self._k = keys
        self.allow_private = allow_private
        self._resolve = resolver

    def url_problem(self, url: str) -> str | None:
        """What is wrong with ``url`` as a destination (https, public addresses), or None."""
        return url_problem(url, allow_private=self.allow_private, resolver=self._resolve)

    def _check_url(self, url: str) -> None:
        problem = self.url_problem(url)
        if problem is not None:
            raise InvalidInput.one("url", problem)

    def _load(self, ws_id: str, webhook_id: str) -> dict[str, Any]:
        raw = self._r.hget(self._k.ws_key(ws_id, "K_WH"), webhook_id)
        if raw is None:
            raise NotFound(f"no webhook endpoint {webhook_id} in this workspace")
        record: dict[str, Any] = json.loads(raw)
        return record

    def _now_ms(self) -> int:
        seconds, micros = self._r.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def create(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Store a new endpoint; its object with the secret (shown this once)."""
        parsed = parse_body(WebhookCreate, body)
        self._check_url(parsed.url)
        now = self._now_ms()
        record: dict[str, Any] = {
            "id": "wh_" + secrets.token_hex(8),
            "url": parsed.url,
            "events": normalized(parsed.events),
            "description": parsed.description,
            "enabled": parsed.enabled,
            "disabledReason": None,
            "createdAt": now,
            "secret": new_secret(),
        }
        key = self._k.ws_key(ws_id, "K_WH")

        def add(pipe: redis.client.Pipeline) -> None:
            if pipe.hlen(key) >= MAX_ENDPOINTS:
                # The body is fine; the workspace's state refuses it (409, not 422).
                raise Conflict(
                    f"this workspace has {MAX_ENDPOINTS} webhook endpoints already, the most "
                    f"allowed; delete one first"
                )
            pipe.multi()
            pipe.hset(key, record["id"], json.dumps(record))
            pipe.sadd(self._k.ns_key("K_WH_WS"), ws_id)

        self._r.transaction(add, key)
        return endpoint_view(record, with_secret=True)

    def get(self, ws_id: str, webhook_id: str) -> dict[str, Any]:
        """One endpoint (without its secret)."""
        return endpoint_view(self._load(ws_id, webhook_id))

    def list(self, ws_id: str, limit: int | None = None, cursor: str | None = None) -> Page:
        """The workspace's endpoints, oldest first."""
        n = check_limit(limit)
        after = decode_cursor(cursor)
        raw = self._r.hvals(self._k.ws_key(ws_id, "K_WH"))
        records = sorted((json.loads(r) for r in raw), key=lambda r: (r["createdAt"], r["id"]))
        if after is not None:
            records = [r for r in records if f"{r['createdAt']}:{r['id']}" > after]
        page = records[:n]
        more = len(records) > n
        last = page[-1] if page else None
        next_cursor = encode_cursor(f"{last['createdAt']}:{last['id']}") if more and last else None
        return Page([endpoint_view(r) for r in page], next_cursor)

    def update(
        self, ws_id: str, webhook_id: str, body: bytes | str | dict[str, Any]
    ) -> dict[str, Any]:
        """Change url, events, description or enabled (re-enabling clears the failures)."""
        parsed = parse_body(WebhookUpdate, body)
        given = parsed.model_fields_set
        if parsed.url is not None:
            self._check_url(parsed.url)
        for name in ("url", "enabled"):
            if name in given and getattr(parsed, name) is None:
                raise InvalidInput.one(name, "may not be null")
        if "events" in given and parsed.events is None:
            raise InvalidInput.one("events", "may not be null")
        key = self._k.ws_key(ws_id, "K_WH")
        out: dict[str, Any] = {}

        def change(pipe: redis.client.Pipeline) -> None:
            raw = pipe.hget(key, webhook_id)
            if raw is None:
                raise NotFound(f"no webhook endpoint {webhook_id} in this workspace")
            record = json.loads(raw)
            for name in given:
                value = getattr(parsed, name)
                record[name] = normalized(value) if name == "events" else value
            if parsed.enabled:
                record["disabledReason"] = None
            pipe.multi()
            pipe.hset(key, webhook_id, json.dumps(record))
            if parsed.enabled:
                pipe.hdel(self._k.ws_key(ws_id, "K_WH_FAIL"), webhook_id)
            out.update(record)

        self._r.transaction(change, key)
        return endpoint_view(out)

    def delete(self, ws_id: str, webhook_id: str) -> dict[str, Any]:
        """Remove an endpoint; its pending deliveries are dropped when they come due."""
        self._load(ws_id, webhook_id)
        pipe = self._r.pipeline()
        pipe.hdel(self._k.ws_key(ws_id, "K_WH"), webhook_id)
        pipe.hdel(self._k.ws_key(ws_id, "K_WH_FAIL"), webhook_id)
        pipe.execute()
        return {"id": webhook_id, "deleted": True}

    def rotate_secret(self, ws_id: str, webhook_id: str) -> dict[str, Any]:
        """A new secret for the endpoint (the old one stops signing at once)."""
        key = self._k.ws_key(ws_id, "K_WH")
        out: dict[str, Any] = {}

        def rotate(pipe: redis.client.Pipeline) -> None:
            raw = pipe.hget(key, webhook_id)
            if raw is None:
                raise NotFound(f"no webhook endpoint {webhook_id} in this workspace")
            record = json.loads(raw)
            record["secret"] = new_secret()
            pipe.multi()
            pipe.hset(key, webhook_id, json.dumps(record))
            out.update(record)

        self._r.transaction(rotate, key)
        return endpoint_view(out, with_secret=True)
