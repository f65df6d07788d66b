"""Workspace settings: the workspace object of ``GET /api/workspace`` and its changes.

The settings, ``maxCallsPerNumberPerDay`` and ``maxDialsPerSecond``, are fields of the
workspace hash (absent = off), read by the engine's claim script each time it is about
to dial.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
import structlog
from redis.client import Pipeline

from domain.errors import Conflict, InvalidInput, Unauthorized
from domain.health import number_stats, redis_ms
from domain.keys import Keys
from domain.time.timefmt import iso_ms
from producer.apikeys import ApiKeys
from producer.schemas.base import parse_body
from producer.schemas.workspace import WorkspaceUpdate
from producer.workspaces import Workspaces

log = structlog.get_logger(__name__)

#: Field of the workspace hash that holds the frequency cap (read by worker/lua/claim.lua).
CALLS_PER_DAY_FIELD = "maxCallsPerNumberPerDay"
#: Field of the workspace hash that holds the pacing limit (read by claim.lua).
DIALS_PER_SECOND_FIELD = "maxDialsPerSecond"
#: Field of the workspace hash: slots outbound jobs never take (read by claim.lua).
RESERVED_FIELD = "reservedInboundDials"
#: Field of the workspace hash: the answer rate under which a number rests (finish_dial.lua).
QUARANTINE_FIELD = "quarantineBelowAnswerRate"
#: Settings a PATCH may change.
SETTINGS = (CALLS_PER_DAY_FIELD, DIALS_PER_SECOND_FIELD, RESERVED_FIELD, QUARANTINE_FIELD)


def parse_update(body: bytes | str | dict[str, Any]) -> WorkspaceUpdate:
    """A ``PATCH /api/workspace`` body, parsed strictly and validated."""
    change = parse_body(WorkspaceUpdate, body)
    if not change.model_fields_set:
        raise InvalidInput.one("", f"give at least one of {', '.join(SETTINGS)} to change")
    return change


class WorkspaceSettings:
    """Read the workspace object and change its settings."""

    def __init__(self, client: redis.Redis, keys: Keys, workspaces: Workspaces) -> None:
        self._r = client
        self._k = keys
        self._ws = workspaces

    def get(self, ws_id: str) -> dict[str, Any]:
        """``{"id", "name", "dialLimit", "phoneNumbers", "maxCallsPerNumberPerDay",
        "maxDialsPerSecond"}``."""
        ws = self._ws.get(ws_id)
        cap, rate, reserved, below = self._r.hmget(self._k.workspace(ws_id), SETTINGS)
        numbers = sorted(ws.numbers.values(), key=lambda p: (p.number, p.id))
        stats = number_stats(self._r, self._k, ws_id, [p.id for p in numbers], redis_ms(self._r))
        return {
            "id": ws.id,
            "name": ws.name,
            "dialLimit": ws.dial_limit,
            "phoneNumbers": [
                {
                    **p.as_dict(),
                    "resting": p.resting,
                    "restingUntil": iso_ms(p.resting_until),
                    "stats": stats[p.id],
                }
                for p in numbers
            ],
            CALLS_PER_DAY_FIELD: int(cap) if cap is not None else None,
            DIALS_PER_SECOND_FIELD: int(rate) if rate is not None else None,
            RESERVED_FIELD: int(reserved) if reserved is not None else None,
            QUARANTINE_FIELD: float(below) if below is not None else None,
            "apiKeys": ApiKeys(self._r, self._k).list(ws_id),
        }

    def update(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Apply the settings given in ``body`` (null turns one off); the workspace after."""
        change = parse_update(body)
        key = self._k.workspace(ws_id)
        if change.reservedInboundDials is not None:
            self._check_reserve(ws_id, change.reservedInboundDials)

        def apply(pipe: Pipeline) -> None:
            # Only on a workspace that still exists: a field alone would make a husk.
            if not pipe.exists(key):
                raise Unauthorized("the workspace of this API key no longer exists")
            pipe.multi()
            for name in SETTINGS:
                if name not in change.model_fields_set:
                    continue
                value = getattr(change, name)
                if value is None:
                    pipe.hdel(key, name)
                else:
                    pipe.hset(key, name, value)

        self._r.transaction(apply, key)
        log.info("workspace_updated", ws_id=ws_id, changes=sorted(change.model_fields_set))
        return self.get(ws_id)

    def _check_reserve(self, ws_id: str, reserved: int) -> None:
        """A reserve must leave a slot, and room for each unfinished job's cap (named). The
        body is valid; the workspace's state refuses it: 409, not 422."""
        limit = self._ws.get(ws_id).dial_limit
        if reserved >= limit:
            raise Conflict(
                f"reservedInboundDials {reserved} must be below the workspace's dial limit "
                f"of {limit}"
            )
        outbound = limit - reserved
        problems = []
        for member in cast(list[str], self._r.zrange(self._k.jobs(ws_id), 0, -1)):
            job_id = member.partition(":")[2]
            status, config = cast(
                list[str | None], self._r.hmget(self._k.job(ws_id, job_id), ["status", "config"])
            )
            if status in (None, "COMPLETE", "CANCELLED") or config is None:
                continue
            cap = int(json.loads(config)["maxConcurrentDials"])
            if cap > outbound:
                problems.append(
                    f"job {job_id} ({status}) has maxConcurrentDials {cap}, more than the "
                    f"{outbound} slots the reserve leaves; lower it first"
                )
        if problems:
            raise Conflict("reservedInboundDials " + str(reserved) + ": " + "; ".join(problems))
