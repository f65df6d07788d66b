"""The workspace's caller-ID numbers by API (SPEC §8.5): add one with its limit, change
the limit, rest and restore it by hand, delete it.

A number is a field of the workspace's numbers hash (id -> JSON ``{number, max}``;
``rest``: until when (ms) no new dial uses it, -1 for "until restored"), which the
claim reads on every dial. Deleting a number takes it out of the pool of every
unfinished job that has it, each with a ``job.phone_number_removed`` event; it is
refused while it is the last number of such a job's pool (naming the job).
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
from domain.protocol import parse_update_config
from domain.scripts import Scripts
from producer.schemas.base import parse_body, parse_update
from producer.schemas.numbers import PhoneNumberAdd, PhoneNumberUpdate
from producer.workspaces import Workspaces

log = structlog.get_logger(__name__)
#: Attempts of a removal that races other changes to the same job.
ATTEMPTS = 5
#: ``rest`` of a number rested by hand (until restored).
RESTED_BY_HAND = -1


class PhoneNumbers:
    """Add, change and delete a workspace's caller-ID numbers."""

    def __init__(self, client: redis.Redis, keys: Keys, workspaces: Workspaces) -> None:
        self._r = client
        self._k = keys
        self._ws = workspaces
        self._scripts = Scripts(client)

    def _stored(self, ws_id: str, number_id: str) -> dict[str, Any]:
        raw = cast(str | None, self._r.hget(self._k.numbers(ws_id), number_id))
        if raw is None:
            raise NotFound(f"no phone number {number_id}")
        return dict(json.loads(raw))

    def add(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Add a number to the workspace; the number object (409 if it is there already)."""
        spec = parse_body(PhoneNumberAdd, body)
        ws = self._ws.get(ws_id)
        for existing in ws.numbers.values():
            if existing.number == spec.number:
                raise Conflict(
                    f"{spec.number} is already a number of this workspace ({existing.id})"
                )
        number_id = "pn_" + secrets.token_hex(6)
        stored = {"number": spec.number, "max": spec.maxConcurrentDials}
        self._r.hset(self._k.numbers(ws_id), number_id, json.dumps(stored))
        self._wake_waiting(ws_id)
        log.info("phone_number_added", ws_id=ws_id, number_id=number_id)
        return view(number_id, stored)

    def update(
        self, ws_id: str, number_id: str, body: bytes | str | dict[str, Any]
    ) -> dict[str, Any]:
        """Change the limit or rest/restore the number; the number after."""
        change, given = parse_update(PhoneNumberUpdate, body, "maxConcurrentDials or resting")
        key = self._k.numbers(ws_id)
        stored: dict[str, Any] = {}

        def change_it(pipe: Pipeline) -> None:
            stored.clear()
            stored.update(self._stored(ws_id, number_id))
            if change.maxConcurrentDials is not None:
                stored["max"] = change.maxConcurrentDials
            if change.resting is True:
                stored["rest"] = RESTED_BY_HAND
            elif change.resting is False:
                stored.pop("rest", None)
            pipe.multi()
            pipe.hset(key, number_id, json.dumps(stored))

        self._r.transaction(change_it, key)
        self._wake_waiting(ws_id)
        log.info("phone_number_changed", ws_id=ws_id, number_id=number_id, changes=sorted(given))
        return view(number_id, stored)

    def _wake_waiting(self, ws_id: str) -> None:
        """Jobs refused for want of a number (or room) look again now: a number came back
        or got room."""
        members = cast(set[str], self._r.smembers(self._k.ws_key(ws_id, "K_WAITING")))
        if members:
            seconds, micros = self._r.time()
            now = int(seconds) * 1000 + int(micros) // 1000
            self._r.zadd(self._k.wakeups, dict.fromkeys(members, now), lt=True)

    def remove(self, ws_id: str, number_id: str) -> dict[str, Any]:
        """Delete the number: out of every unfinished job's pool (with an event), refused
        while it is the last number of one; the removed number and the jobs changed."""
        stored = self._stored(ws_id, number_id)
        jobs = self._jobs_with(ws_id, number_id)
        for job_id, pools in jobs.items():
            if any(pool == [number_id] for pool in pools):
                raise Conflict(
                    f"{number_id} is the last number of job {job_id}'s pool; give the job "
                    "another number first (PUT fromPhoneNumberIds), or cancel it"
                )
        changed = [job_id for job_id in jobs if self._drop(ws_id, job_id, number_id, stored)]
        self._r.hdel(self._k.numbers(ws_id), number_id)
        log.info("phone_number_deleted", ws_id=ws_id, number_id=number_id, jobs=changed)
        return {**view(number_id, stored), "deleted": True, "removedFromJobs": changed}

    def _jobs_with(self, ws_id: str, number_id: str) -> dict[str, list[list[str]]]:
        """The unfinished jobs whose running or staged pool has the number: their pools."""
        found: dict[str, list[list[str]]] = {}
        for member in cast(list[str], self._r.zrange(self._k.jobs(ws_id), 0, -1)):
            job_id = member.partition(":")[2]  # "<reversed ms>:<job id>" (commit_job.lua)
            status, config, pending = cast(
                list[str | None],
                self._r.hmget(self._k.job(ws_id, job_id), ["status", "config", "pending"]),
            )
            if status in (None, "COMPLETE", "CANCELLED"):
                continue
            pools = [json.loads(c)["fromPhoneNumberIds"] for c in (config, pending) if c]
            pools = [p for p in pools if number_id in p]
            if pools:
                found[job_id] = pools
        return found

    def _drop(self, ws_id: str, job_id: str, number_id: str, stored: dict[str, Any]) -> bool:
        for _ in range(ATTEMPTS):
            ver, pver, config, pending = cast(
                list[str | None],
                self._r.hmget(self._k.job(ws_id, job_id), ["ver", "pver", "config", "pending"]),
            )
            if config is None:
                return False
            new = [_without(config, number_id), _without(pending, number_id) if pending else ""]
            result = parse_update_config(
                self._scripts(
                    "drop_number",
                    self._k.script_keys(ws_id, job_id),
                    [f"{ver}:{pver or 0}", *new, job_id, number_id, stored["number"]],
                )
            )
            if result.outcome != "retry":
                return result.outcome == "applied"
        raise Conflict(f"job {job_id} kept changing while the number was removed; try again")


def _without(raw: str, number_id: str) -> str:
    config = json.loads(raw)
    config["fromPhoneNumberIds"] = [p for p in config["fromPhoneNumberIds"] if p != number_id]
    return json.dumps(config, separators=(",", ":"))


def view(number_id: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The number object: ``id``, ``number``, ``maxConcurrentDials``, ``resting``."""
    return {
        "id": number_id,
        "number": stored["number"],
        "maxConcurrentDials": int(stored["max"]),
        "resting": int(stored.get("rest", 0)) < 0
        or int(stored.get("rest", 0)) > time.time() * 1000,
    }
