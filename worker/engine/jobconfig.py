"""The running configuration of jobs, as the worker needs it, cached per version."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import redis

from domain.keys import Keys
from domain.rules.callerid import local_hints
from domain.stored_config import recipient_schedules, schedule_of
from domain.time.schedule import WeeklySchedule
from worker.engine.predial import PreDialHook, hook_of


@dataclass(frozen=True, slots=True)
class JobConfig:
    """What the scheduler and the dial actor read of a job, at one config version."""

    ver: str
    cap: int
    pool: tuple[str, ...]
    call_agent_id: str
    schedule: WeeklySchedule | None
    #: Recipient groups (jobs with recipientHours or callingRules): group id -> the
    #: schedules that must all be open for its rows to be dialed (empty: none).
    groups: tuple[tuple[str, tuple[WeeklySchedule, ...]], ...] = ()
    #: The job's ``voicemail.action`` (SPEC §8.5), or None.
    voicemail: str | None = None
    #: The job's pre-dial check (``preDialWebhook`` and its secret), or None.
    predial: PreDialHook | None = None
    #: The job's ``callerId`` and, for ``local``, the claim's hints (domain/rules/callerid.py).
    caller_id: str = "spread"
    local_hints: tuple[str, str] = ("", "")


def load_groups(
    config: dict[str, Any], raw_groups: dict[str, str]
) -> tuple[tuple[str, tuple[WeeklySchedule, ...]], ...]:
    """The recipient groups of a stored job as (group id, schedules) pairs."""
    return tuple(
        (gid, recipient_schedules(config, json.loads(raw)))
        for gid, raw in sorted(raw_groups.items(), key=lambda item: int(item[0]))
    )


class JobConfigs:
    """A bounded cache of job configurations keyed by (workspace, job)."""

    def __init__(self, client: redis.Redis, keys: Keys, size: int = 1024) -> None:
        self._r = client
        self._k = keys
        self._size = size
        self._cache: OrderedDict[tuple[str, str], JobConfig] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ws_id: str, job_id: str) -> JobConfig | None:
        """The cached config, loading it if absent; None if the job does not exist."""
        with self._lock:
            found = self._cache.get((ws_id, job_id))
            if found is not None:
                self._cache.move_to_end((ws_id, job_id))
                return found
        return self.reload(ws_id, job_id)

    def reload(self, ws_id: str, job_id: str) -> JobConfig | None:
        """Read the config from Redis again (its version moved on)."""
        ver, raw, grouped, secret = cast(
            list[str | None],
            self._r.hmget(
                self._k.job(ws_id, job_id), ["ver", "config", "grouped", "predialSecret"]
            ),
        )
        if ver is None or raw is None:
            with self._lock:
                self._cache.pop((ws_id, job_id), None)
            return None
        config = json.loads(raw)
        groups: tuple[tuple[str, tuple[WeeklySchedule, ...]], ...] = ()
        if grouped == "1":
            raw_groups = cast(dict[str, str], self._r.hgetall(self._k.groups(ws_id, job_id)))
            groups = load_groups(config, raw_groups)
        caller_id = str(config.get("callerId") or "spread")
        hints = ("", "")
        if caller_id == "local":
            pool_ids = config["fromPhoneNumberIds"]
            raws = cast(list[str | None], self._r.hmget(self._k.numbers(ws_id), pool_ids))
            hints = local_hints([json.loads(raw)["number"] if raw else None for raw in raws])
        loaded = JobConfig(
            ver=ver,
            cap=int(config["maxConcurrentDials"]),
            pool=tuple(config["fromPhoneNumberIds"]),
            call_agent_id=str(config["callAgentId"]),
            schedule=schedule_of(config),
            groups=groups,
            voicemail=(config.get("voicemail") or {}).get("action"),
            predial=hook_of(config, secret),
            caller_id=caller_id,
            local_hints=hints,
        )
        with self._lock:
            self._cache[(ws_id, job_id)] = loaded
            self._cache.move_to_end((ws_id, job_id))
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return loaded
