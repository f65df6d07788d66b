"""The operator's workspaces (SPEC §8.5): create, list, change the dial limit, disable.

Guarded by ``BATCHDIAL_ADMIN_KEY`` (:mod:`producer.http.routes.admin`). A disabled
workspace's API keys are refused (401) and its jobs dial nothing (the claim treats its
dial limit as full) until it is enabled again.
"""

from __future__ import annotations

from typing import Any, cast

import redis
import structlog

from domain.errors import NotFound
from domain.keys import Keys
from domain.pagination import Page, check_limit, decode_cursor, encode_cursor
from producer.schemas.admin import AdminWorkspaceCreate, AdminWorkspaceUpdate
from producer.schemas.base import parse_body, parse_update
from producer.workspaces import Workspaces

log = structlog.get_logger(__name__)


class AdminWorkspaces:
    """What the operator API does."""

    def __init__(self, client: redis.Redis, keys: Keys, workspaces: Workspaces) -> None:
        self._r = client
        self._k = keys
        self._ws = workspaces

    def create(self, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """A new workspace: its id, API key (shown only here), dial limit and numbers."""
        spec = parse_body(AdminWorkspaceCreate, body)
        made = self._ws.create(spec.name, spec.dialLimit, list(spec.numbers), spec.perNumberLimit)
        log.info("workspace_created", ws_id=made["workspaceId"], by="admin")
        return made

    def view(self, ws_id: str) -> dict[str, Any]:
        """``{id, name, dialLimit, disabled, phoneNumbers}``."""
        record = cast(dict[str, str], self._r.hgetall(self._k.workspace(ws_id)))
        if not record:
            raise NotFound(f"no workspace {ws_id}")
        numbers = self._ws.get(ws_id).numbers.values() if record else []
        return {
            "id": ws_id,
            "name": record.get("name", ""),
            "dialLimit": int(record.get("dialLimit", 0)),
            "disabled": record.get("disabled") == "1",
            "phoneNumbers": [p.as_dict() for p in sorted(numbers, key=lambda p: p.number)],
        }

    def list(self, limit: int | None, cursor: str | None) -> Page:
        """Every workspace, by id, paginated."""
        n = check_limit(limit)
        after = decode_cursor(cursor) or ""
        ids = sorted(i for i in cast(set[str], self._r.smembers(self._k.workspaces)) if i > after)
        page = ids[:n]
        next_cursor = encode_cursor(page[-1]) if len(ids) > n else None
        return Page([self.view(ws_id) for ws_id in page], next_cursor)

    def update(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Change the dial limit and/or disable or enable the workspace."""
        change, given = parse_update(AdminWorkspaceUpdate, body, "dialLimit or disabled")
        key = self._k.workspace(ws_id)
        if not self._r.exists(key):
            raise NotFound(f"no workspace {ws_id}")
        with self._r.pipeline(transaction=True) as pipe:
            if change.dialLimit is not None:
                pipe.hset(key, "dialLimit", change.dialLimit)
            if change.disabled is True:
                pipe.hset(key, "disabled", "1")
            elif change.disabled is False:
                pipe.hdel(key, "disabled")
            pipe.execute()
        log.info("workspace_changed", ws_id=ws_id, by="admin", changes=sorted(given))
        return self.view(ws_id)
