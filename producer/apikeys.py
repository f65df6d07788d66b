"""API key rotation (SPEC §8.5): ``POST /api/workspace/api_keys`` makes a new key (shown
once), ``DELETE /api/workspace/api_keys/{id}`` revokes one, so that a leaked key can be
replaced without downtime.

Keys are kept as SHA-256 hashes: the namespace's key index (hash -> workspace) and, in
the workspace's record, ``keyHash`` (the key made with the workspace) and a field
``kh:<hash>`` -> ``{id, createdAt}`` per further key. The first key's id is derived
from its hash (``key_`` + 16 hex digits), so every key has one. The last key of a
workspace cannot be revoked.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, cast

import redis
import structlog
from redis.client import Pipeline

from domain.errors import Conflict, NotFound
from domain.keys import Keys
from domain.time.timefmt import iso_ms
from producer.workspaces import API_KEY_PREFIX, hash_api_key

log = structlog.get_logger(__name__)

#: Prefix of the workspace record's fields that hold the further keys.
FIELD = "kh:"


def key_id_of(key_hash: str) -> str:
    """The id of the workspace's first key (derived from its hash)."""
    return "key_" + key_hash[:16]


class ApiKeys:
    """List, create and revoke a workspace's API keys."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def list(self, ws_id: str) -> list[dict[str, Any]]:
        """``[{id, createdAt}]`` of the workspace's keys (never the keys themselves)."""
        record = cast(dict[str, str], self._r.hgetall(self._k.workspace(ws_id)))
        return [_shown(meta) for _, meta in _keys_of(record)]

    def create(self, ws_id: str) -> dict[str, Any]:
        """A new key for the workspace: ``{id, apiKey, createdAt}`` (the key shown only here)."""
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_hash = hash_api_key(api_key)
        meta = {"id": "key_" + secrets.token_hex(8), "createdAt": int(time.time() * 1000)}
        with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.workspace(ws_id), FIELD + key_hash, json.dumps(meta))
            pipe.hset(self._k.apikeys, key_hash, ws_id)
            pipe.execute()
        log.info("api_key_created", ws_id=ws_id, key_id=meta["id"])
        return {**_shown(meta), "apiKey": api_key}

    def revoke(self, ws_id: str, key_id: str) -> dict[str, Any]:
        """Revoke the key ``key_id`` at once; 404 if it is not one of the workspace's,
        409 if it is the last one."""
        key = self._k.workspace(ws_id)

        def revoke_it(pipe: Pipeline) -> None:
            record = cast(dict[str, str], pipe.hgetall(key))
            found = [(h, m) for h, m in _keys_of(record) if m["id"] == key_id]
            if not found:
                raise NotFound(f"no API key {key_id}")
            if len(_keys_of(record)) == 1:
                raise Conflict("this is the workspace's last API key; create another first")
            key_hash = found[0][0]
            pipe.multi()
            if record.get("keyHash") == key_hash:
                pipe.hdel(key, "keyHash")
            pipe.hdel(key, FIELD + key_hash)
            pipe.hdel(self._k.apikeys, key_hash)

        self._r.transaction(revoke_it, key)
        log.info("api_key_revoked", ws_id=ws_id, key_id=key_id)
        return {"id": key_id, "revoked": True}


def _shown(meta: dict[str, Any]) -> dict[str, Any]:
    """A key's record as the API shows it: ``createdAt`` in ISO 8601 UTC (stored in ms)."""
    return {**meta, "createdAt": iso_ms(meta.get("createdAt"))}


def _keys_of(record: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(hash, {id, createdAt}) of each key in a workspace record."""
    out: list[tuple[str, dict[str, Any]]] = []
    first = record.get("keyHash")
    if first:
        out.append((first, {"id": key_id_of(first), "createdAt": None}))
    for field, raw in record.items():
        if field.startswith(FIELD):
            out.append((field[len(FIELD) :], dict(json.loads(raw))))
    return out
