"""The running configuration of jobs, as the worker needs it, cached per version."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import redis

from domain.keys import Keys
from domain.schedule import TimeSlot, WeeklySchedule, parse_hhmm


@dataclass(frozen=True, slots=True)
class JobConfig:
    """What the pump and the dial actor read of a job, at one config version."""

    ver: str
    cap: int
    pool: tuple[str, ...]
    call_agent_id: str
    schedule: WeeklySchedule | None


def schedule_of(config: dict[str, Any]) -> WeeklySchedule | None:
    """The effective schedule of a stored config (None: dial at any time)."""
    raw = config.get("schedule")
    if raw is None or config.get("disableSchedule"):
        return None
    days: dict[int, tuple[TimeSlot, ...]] = {}
    for day in raw["days"]:
        days[int(day["dayOfWeek"])] = tuple(
            TimeSlot(
                parse_hhmm(s["startTime"], allow_24=False), parse_hhmm(s["endTime"], allow_24=True)
            )
            for s in day["timeSlots"]
        )
    return WeeklySchedule(raw["timezone"], days)


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
        ver, raw = cast(
            list[str | None], self._r.hmget(self._k.job(ws_id, job_id), ["ver", "config"])
        )
        if ver is None or raw is None:
            with self._lock:
                self._cache.pop((ws_id, job_id), None)
            return None
        config = json.loads(raw)
        loaded = JobConfig(
            ver=ver,
            cap=int(config["maxConcurrentDials"]),
            pool=tuple(config["fromPhoneNumberIds"]),
            call_agent_id=str(config["callAgentId"]),
            schedule=schedule_of(config),
        )
        with self._lock:
            self._cache[(ws_id, job_id)] = loaded
            self._cache.move_to_end((ws_id, job_id))
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return loaded
