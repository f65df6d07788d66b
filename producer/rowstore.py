"""How a job's rows are kept (the ``:rows`` hash, ``domain/rowform.py`` reads it back)
and the checks on rows that need the whole job: consent for telemarketing, repeated
``externalId``s, expiry. Shared by create (``producer/jobs.py``) and appends
(``producer/appends.py``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from domain.errors import InvalidInput, Problem
from producer.schemas.jobs import JobCreate, RowIn

#: Rows a refusal names one by one (a telemarketing job without consent); the rest counted.
MAX_NAMED_ROWS = 1_000


def encode_row(
    to_number: str,
    inputs: dict[str, str],
    group: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """The stored form of a row: compact JSON ``[toNumber, inputs]``, with the recipient
    group id third when the job groups its rows (recipientHours, callingRules; '' when it
    does not but the row has ``extra`` fields), and ``extra`` fourth (``externalId``,
    ``expiresAt``, ``callAgentId``, ``consent``, ``state``: :func:`extra_of`)."""
    if extra:
        return _COMPACT.encode([to_number, inputs, group or "", extra])
    if group is not None:
        return _COMPACT.encode([to_number, inputs, group])
    return _COMPACT.encode([to_number, inputs] if inputs else [to_number])


#: What ``json.dumps(..., separators=(",", ":"))`` makes anew on every call (it keeps no
#: state between calls).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def check_consent(spec: JobCreate) -> None:
    """A telemarketing job needs every row's prior express written consent (FCC 24-17:
    an AI voice is artificial); refuse it naming each row without it."""
    if spec.purpose != "telemarketing":
        return
    missing = [
        i
        for i, row in enumerate(spec.rows)
        if row.consent is None or row.consent.type != "express_written"
    ]
    if not missing:
        return
    problems = []
    for i in missing[:MAX_NAMED_ROWS]:
        consent = spec.rows[i].consent
        given = "no consent" if consent is None else f"consent of type {consent.type!r}"
        problems.append(
            Problem(
                f"rows[{i}].consent",
                f"has {given}; a telemarketing job calls only rows with "
                '"express_written" consent (prior express written consent)',
            )
        )
    if len(missing) > MAX_NAMED_ROWS:
        problems.append(
            Problem("rows", f"{len(missing) - MAX_NAMED_ROWS} more rows lack it as well")
        )
    raise InvalidInput(problems)


def redis_now_ms(client: redis.Redis) -> int:
    """Redis's clock (ms), the one the claim and the pump compare expiries with."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def expiry_ms(row: RowIn, now_ms: int, ttl_s: int | None) -> int | None:
    """When a row joining the job at ``now_ms`` expires (ms): its expiresAt or the job's
    rowTtlSeconds, whichever comes first; None for never."""
    found = [now_ms + ttl_s * 1000] if ttl_s else []
    if row.expiresAt:
        found.append(round(datetime.fromisoformat(row.expiresAt).timestamp() * 1000))
    return min(found) if found else None


def extra_of(row: RowIn, expires_ms: int | None = None) -> dict[str, Any] | None:
    """The row's fields beyond number, inputs and zone, as stored (None: none)."""
    extra: dict[str, Any] = {}
    if expires_ms is not None:
        extra["expiresAt"] = expires_ms
    if row.externalId:
        extra["externalId"] = row.externalId
    if row.callAgentId:
        extra["callAgentId"] = row.callAgentId
    if row.consent is not None:
        extra["consent"] = row.consent.model_dump(mode="json", exclude_none=True)
    if row.state is not None:
        extra["state"] = row.state
    return extra or None


def without_repeated_ids(rows: list[RowIn]) -> tuple[list[RowIn], int]:
    """``rows`` without those repeating an earlier row's externalId, and how many left."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        if row.externalId is not None:
            if row.externalId in seen:
                continue
            seen.add(row.externalId)
        kept.append(row)
    return kept, len(rows) - len(kept)
