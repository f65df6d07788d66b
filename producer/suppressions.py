"""A workspace's suppression list: numbers that are never dialed.

Two keys hold it (:mod:`domain.keys`): a sorted set of E.164 numbers, every score 0,
so that it lists in lexicographic order and the engine's claim script tests one
number with ``ZSCORE``; and a hash number -> JSON of why and since when. Every change
writes both in one ``MULTI`` transaction, so nobody ever sees one without the other.
The engine adds numbers itself when a provider reports ``opted-out`` (source
``opted-out``, with the job and dial); this module adds (source ``api``), removes and
lists them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, cast

import redis
import structlog
from pydantic_core import PydanticCustomError

from domain.errors import InvalidInput
from domain.keys import Keys
from domain.pagination import Page, check_limit, decode_cursor, encode_cursor
from domain.time.timefmt import iso_ms
from producer.schemas.base import parse_body
from producer.schemas.workspace import SuppressionsAdd
from producer.validation import normalize_phone_number

log = structlog.get_logger(__name__)

#: Numbers written per MULTI transaction, so that a 100k import never blocks Redis long.
CHUNK_NUMBERS = 5_000
#: Stored details that a list entry shows when present (the engine's opted-out entries).
EXTRA_FIELDS = ("jobId", "dialId")

Source = Literal["api", "opted-out"]


def parse_add(body: bytes | str | dict[str, Any]) -> SuppressionsAdd:
    """A ``POST /api/suppressions`` body, parsed strictly and validated (every problem)."""
    return parse_body(SuppressionsAdd, body)


def checked_number(number: str, path: str = "number") -> str:
    """The E.164 form of ``number``; :class:`InvalidInput` at ``path`` if it is not one."""
    try:
        return normalize_phone_number(number)
    except PydanticCustomError as exc:
        raise InvalidInput.one(path, exc.message()) from None


def entry_view(number: str, raw: str | None) -> dict[str, Any]:
    """The list entry of one suppressed number from its stored JSON (if any)."""
    info: dict[str, Any] = {}
    if raw:
        loaded = json.loads(raw)
        if isinstance(loaded, dict):
            info = loaded
    created = info.get("createdAt")
    entry: dict[str, Any] = {
        "number": number,
        "reason": info.get("reason"),
        "source": info.get("source", "api"),
        # Lua's cjson may write a large integer as a float; the instant is the same.
        "createdAt": iso_ms(int(created)) if isinstance(created, int | float) else None,
    }
    for name in EXTRA_FIELDS:
        if info.get(name) is not None:
            entry[name] = info[name]
    return entry


class Suppressions:
    """Add, remove, list and test the numbers a workspace never dials."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def add(
        self,
        ws_id: str,
        numbers: Sequence[str],
        reason: str | None = None,
        source: Source = "api",
    ) -> dict[str, int]:
        """Suppress ``numbers`` (validated first: nothing is stored if one is bad).

        Returns ``{"added": n, "alreadySuppressed": m}`` over the distinct numbers; a
        number already on the list keeps its original entry.
        """
        return self.add_parsed(
            ws_id, parse_add({"numbers": list(numbers), "reason": reason}), source
        )

    def add_parsed(
        self, ws_id: str, request: SuppressionsAdd, source: Source = "api"
    ) -> dict[str, int]:
        """Suppress the numbers of an already validated request (see :meth:`add`)."""
        numbers = request.unique_numbers()
        seconds, micros = self._r.time()
        info = json.dumps(
            {
                "reason": request.reason,
                "source": source,
                "createdAt": seconds * 1000 + micros // 1000,
            },
            separators=(",", ":"),
        )
        added = 0
        for start in range(0, len(numbers), CHUNK_NUMBERS):
            chunk = numbers[start : start + CHUNK_NUMBERS]
            with self._r.pipeline(transaction=True) as pipe:
                pipe.zadd(self._k.suppressed(ws_id), dict.fromkeys(chunk, 0), nx=True)
                for number in chunk:
                    # HSETNX: a number already listed keeps its original reason and date.
                    pipe.hsetnx(self._k.suppression_info(ws_id), number, info)
                added += int(pipe.execute()[0])
        counts = {"added": added, "alreadySuppressed": len(numbers) - added}
        log.info("suppressions_added", ws_id=ws_id, source=source, **counts)
        return counts

    def remove(self, ws_id: str, number: str) -> bool:
        """Take ``number`` off the list; False if it was not on it."""
        e164 = checked_number(number)
        with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(self._k.suppressed(ws_id), e164)
            pipe.hdel(self._k.suppression_info(ws_id), e164)
            removed, _ = pipe.execute()
        if removed:
            log.info("suppression_removed", ws_id=ws_id)
        return bool(removed)

    def is_suppressed(self, ws_id: str, number: str) -> bool:
        """Whether ``number`` is on the list."""
        return self._r.zscore(self._k.suppressed(ws_id), checked_number(number)) is not None

    def list(self, ws_id: str, limit: int | None = None, cursor: str | None = None) -> Page:
        """The suppressed numbers in lexicographic order of their E.164 form."""
        n = check_limit(limit)
        after = decode_cursor(cursor)
        low = f"({after}" if after else "-"
        members = cast(
            list[str],
            self._r.zrangebylex(self._k.suppressed(ws_id), low, "+", start=0, num=n + 1),
        )
        page = members[:n]
        raws = (
            cast(list[str | None], self._r.hmget(self._k.suppression_info(ws_id), page))
            if page
            else []
        )
        data = [entry_view(number, raw) for number, raw in zip(page, raws, strict=True)]
        more = len(members) > n
        return Page(data, encode_cursor(page[-1]) if more else None)
