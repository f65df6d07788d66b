"""Workspaces: a dial limit, an API key (stored only as a hash), caller-ID numbers."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis
from pydantic_core import PydanticCustomError

from domain.errors import InvalidInput, Problem, Unauthorized
from domain.keys import Keys
from producer.textrules import describe_char, first_forbidden_char
from producer.validation import normalize_phone_number

API_KEY_PREFIX = "bd_"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A caller-ID number of a workspace and its own concurrency limit."""

    id: str
    number: str
    max_concurrent_dials: int
    resting: bool = False
    #: Until when (ms) a quarantined number rests; None when not resting or rested by hand.
    resting_until: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of SPEC §3."""
        return {
            "id": self.id,
            "number": self.number,
            "maxConcurrentDials": self.max_concurrent_dials,
        }


@dataclass(frozen=True, slots=True)
class Workspace:
    """A tenant: its dial limit (over all its jobs) and its numbers."""

    id: str
    name: str
    dial_limit: int
    numbers: dict[str, PhoneNumber]


def hash_api_key(api_key: str) -> str:
    """The stored form of an API key (SHA-256 hex; keys are random, so no salt is needed)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class Workspaces:
    """Create workspaces and find the workspace of an API key."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def create(
        self,
        name: str,
        dial_limit: int,
        numbers: list[str],
        per_number_limit: int | None = None,
    ) -> dict[str, Any]:
        """Create a workspace; returns its id, its API key (shown only here) and numbers."""
        problems = []
        if not name.strip():
            problems.append(Problem("name", "must not be empty"))
        elif (bad := first_forbidden_char(name)) is not None:
            problems.append(
                Problem(
                    "name",
                    "must not contain control or invisible characters: "
                    f"{describe_char(bad[1])} at position {bad[0]}",
                )
            )
        if dial_limit < 1:
            problems.append(Problem("dialLimit", f"must be at least 1, got {dial_limit}"))
        if per_number_limit is not None and per_number_limit < 1:
            problems.append(
                Problem("perNumberLimit", f"must be at least 1, got {per_number_limit}")
            )
        normalized: list[str] = []
        for i, number in enumerate(numbers):
            try:
                normalized.append(normalize_phone_number(number))
            except PydanticCustomError as exc:
                problems.append(Problem(f"numbers[{i}]", exc.message()))
        if problems:
            raise InvalidInput(problems)
        ws_id = "ws_" + secrets.token_hex(8)
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        limit = per_number_limit if per_number_limit is not None else dial_limit
        phone_numbers = [
            PhoneNumber("pn_" + secrets.token_hex(6), number, limit)
            for number in dict.fromkeys(normalized)
        ]
        key_hash = hash_api_key(api_key)
        with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._k.workspace(ws_id),
                mapping={"id": ws_id, "name": name, "dialLimit": dial_limit, "keyHash": key_hash},
            )
            if phone_numbers:
                pipe.hset(
                    self._k.numbers(ws_id),
                    mapping={
                        p.id: json.dumps({"number": p.number, "max": p.max_concurrent_dials})
                        for p in phone_numbers
                    },
                )
            pipe.hset(self._k.apikeys, key_hash, ws_id)
            pipe.sadd(self._k.workspaces, ws_id)
            pipe.execute()
        return {
            "workspaceId": ws_id,
            "apiKey": api_key,
            "dialLimit": dial_limit,
            "phoneNumbers": [p.as_dict() for p in phone_numbers],
        }

    def authenticate(self, api_key: str | None) -> str:
        """The workspace id of ``api_key``; raises :class:`Unauthorized` otherwise."""
        if not api_key:
            raise Unauthorized("an API key is required: send the header 'api_key: KEY'")
        key_hash = hash_api_key(api_key)
        ws_id = self._r.hget(self._k.apikeys, key_hash)
        if ws_id is not None:
            first, further, disabled = self._r.hmget(
                self._k.workspace(str(ws_id)), ["keyHash", "kh:" + key_hash, "disabled"]
            )
            if first is not None and hmac.compare_digest(str(first), key_hash):
                further = further or "1"
            if further is not None:
                if disabled:
                    raise Unauthorized("the workspace of this API key is disabled")
                return str(ws_id)
        raise Unauthorized("the API key is not valid")

    def get(self, ws_id: str) -> Workspace:
        """The workspace record with its numbers."""
        with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._k.workspace(ws_id))
            pipe.hgetall(self._k.numbers(ws_id))
            record, numbers = pipe.execute()
        if not record:
            raise Unauthorized("the workspace of this API key no longer exists")
        parsed = {}
        for pn_id, raw in numbers.items():
            data = json.loads(raw)
            rest = int(data.get("rest", 0))
            until = rest if rest > time.time() * 1000 else None
            parsed[pn_id] = PhoneNumber(
                pn_id, data["number"], int(data["max"]), rest < 0 or until is not None, until
            )
        return Workspace(ws_id, record["name"], int(record["dialLimit"]), parsed)
