"""The queue of a job (SPEC §4.5 and §7): rows not yet dialed, why each waits, and when
it may next be dialed.

Rows waiting in the queue or released to the broker are listed first, in dialing
order; then rows held for a retry backoff or a frequency cap, by when they are due.
``waitingFor`` is the first reason that holds now: ``paused`` (the job is not running),
``retryBackoff`` / ``frequencyCap`` (held), ``schedule`` (the job's window is closed),
``recipientHours`` (outside the recipient's hours), ``pacing`` (released, and a claim
refused it because a start now would exceed a dials-per-second limit: a worker claims
it again when one conforms), else ``capacity``. ``nextEligibleAt``
is the first instant, from now or from when the hold ends, at which the job's window and
every recipient zone's hours are all open (null when the job is not running or never).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from redis.client import Pipeline

from domain.errors import InvalidInput, Problem
from domain.keys import Keys
from domain.pagination import Page, check_limit, decode_cursor, encode_cursor
from domain.rowform import row_agent, row_extra
from domain.rules.tcpa import state_rule
from domain.storage import snapshot
from domain.stored_config import hours_of, job_zone_of, recipient_schedules, schedule_of
from domain.time.eligibility import JOB_ZONE, group_schedules, next_eligible
from domain.time.schedule import WeeklySchedule, is_open
from domain.time.timefmt import iso_ms

HELD_CURSOR = "h:"


@dataclass(frozen=True, slots=True)
class _Entry:
    index: str
    score: float
    held: bool


@dataclass(frozen=True, slots=True)
class _JobState:
    status: str | None
    config: dict[str, Any]
    grouped: bool


def _bad_cursor() -> InvalidInput:
    return InvalidInput([Problem("cursor", "is not a cursor of this list")])


def _parse_cursor(cursor: str | None) -> tuple[str, float, str]:
    """('queue', score, '') after a queued row, ('held', due, index) after a held one."""
    after = decode_cursor(cursor)
    if after is None:
        return "queue", -math.inf, ""
    phase = "queue"
    member = ""
    text = after
    if after.startswith(HELD_CURSOR):
        phase = "held"
        text, _, member = after[len(HELD_CURSOR) :].partition(":")
        if not member.isdigit():
            raise _bad_cursor()
    try:
        score = float(text)
    except ValueError:
        raise _bad_cursor() from None
    if not math.isfinite(score):
        raise _bad_cursor()
    return phase, score, member


def _waiting_for(
    held_for: str | None,
    schedules: list[WeeklySchedule | None],
    now: datetime,
    *,
    paced: bool,
    hours: int = -1,
    pool_resting: bool = False,
) -> str:
    """Why a running job's row waits now: ``schedules`` are the job's, then the
    recipient zones' hours (the first ``hours`` of them; all when -1), then its calling
    rules'; ``held_for`` is why a held row is held until later (else None)."""
    if held_for is not None:
        return held_for
    if not is_open(schedules[0], now):
        return "schedule"
    end = len(schedules) if hours < 0 else 1 + hours
    if not all(is_open(s, now) for s in schedules[1:end]):
        return "recipientHours"
    if not all(is_open(s, now) for s in schedules[end:]):
        return "callingRules"
    if pool_resting:
        return "callerId"
    return "pacing" if paced else "capacity"


def _all_resting(numbers: list[str | None], now: datetime) -> bool:
    """Whether every number of the pool rests (by hand, or quarantined until later)."""
    now_ms = now.timestamp() * 1000
    rests = [int(json.loads(raw).get("rest", 0)) for raw in numbers if raw]
    return bool(rests) and all(rest < 0 or rest > now_ms for rest in rests)


def _row_fields(item: dict[str, Any], data: list[Any]) -> None:
    """The row's own agent and expiry, when it has them (issue 17)."""
    if (agent := row_agent(data)) is not None:
        item["callAgentId"] = agent
    if (expires := row_extra(data).get("expiresAt")) is not None:
        item["expiresAt"] = iso_ms(int(expires))


def _describe_recipient(
    item: dict[str, Any], group: dict[str, Any] | None, extra: dict[str, Any], job_zone: str
) -> None:
    """The row's zones and state (from its group) and its consent, in its queue entry."""
    if group is not None:
        item["timezones"] = [job_zone if z == JOB_ZONE else z for z in group["zones"]]
        item["timezoneSource"] = group["source"]
        if group.get("stateSource"):
            item["state"] = group.get("state")
            item["stateSource"] = group["stateSource"]
    if extra.get("consent"):
        item["consent"] = extra["consent"]


class QueueView:
    """Reads one page of a job's queue with the reason each row waits."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def page(self, ws_id: str, job_id: str, limit: int | None, cursor: str | None) -> Page:
        """One page of the queue (the caller checked that the job exists)."""
        n = check_limit(limit)
        phase, after, after_member = _parse_cursor(cursor)
        k = self._k

        def reads(pipe: Pipeline) -> None:
            pipe.hmget(k.job(ws_id, job_id), ["status", "config", "grouped"])
            pipe.time()
            if phase == "queue":
                low = "-inf" if after == -math.inf else f"({after!r}"
                for key in (k.released(ws_id, job_id), k.queue(ws_id, job_id)):
                    pipe.zrangebyscore(key, low, "+inf", start=0, num=n + 1, withscores=True)
                pipe.zrangebyscore(
                    k.held(ws_id, job_id), "-inf", "+inf", start=0, num=n + 1, withscores=True
                )
            else:
                pipe.zrangebyscore(k.held(ws_id, job_id), after, after, withscores=True)
                pipe.zrangebyscore(
                    k.held(ws_id, job_id),
                    f"({after!r}",
                    "+inf",
                    start=0,
                    num=n + 1,
                    withscores=True,
                )

        # One snapshot: the job's state, Redis' clock and the three sets at one moment.
        results = snapshot(self._r, reads)
        (status, raw_config, grouped), (seconds, micros) = results[0], results[1]
        now = datetime.fromtimestamp(int(seconds) + int(micros) / 1e6, UTC)
        if phase == "queue":
            released, waiting, held = cast(list[list[tuple[str, float]]], results[2:])
            queued = sorted(
                [_Entry(m, s, False) for m, s in released + waiting], key=lambda e: e.score
            )
        else:
            ties, later = cast(list[list[tuple[str, float]]], results[2:])
            held = [(m, s) for m, s in ties if m > after_member] + later
            queued = []
        entries = queued + [_Entry(m, s, True) for m, s in sorted(held, key=lambda e: (e[1], e[0]))]
        page = entries[:n]
        job = _JobState(status, json.loads(raw_config) if raw_config else {}, grouped == "1")
        data = self._describe(ws_id, job_id, page, job, now)
        if len(entries) <= n:
            return Page(data, None)
        last = page[-1]
        position = f"{HELD_CURSOR}{last.score!r}:{last.index}" if last.held else repr(last.score)
        return Page(data, encode_cursor(position))

    def _describe(
        self, ws_id: str, job_id: str, page: list[_Entry], job: _JobState, now: datetime
    ) -> list[dict[str, Any]]:
        if not page:
            return []
        k = self._k
        members = [e.index for e in page]
        with self._r.pipeline(transaction=False) as pipe:
            pipe.hmget(k.rows(ws_id, job_id), members)
            pipe.hmget(k.attempts(ws_id, job_id), members)
            pipe.hmget(k.hold_why(ws_id, job_id), members)
            pipe.hgetall(k.groups(ws_id, job_id))
            pipe.zmscore(k.paced(ws_id, job_id), members)
            pool = list(job.config.get("fromPhoneNumberIds") or []) or ["-"]
            pipe.hmget(k.numbers(ws_id), pool)
            raws, attempts, whys, raw_groups, paced, numbers = pipe.execute()
        pool_resting = _all_resting(numbers, now)
        config = job.config
        job_schedule = schedule_of(config) if config else None
        hours = hours_of(config) if config else None
        job_zone = job_zone_of(config) if config else "UTC"
        groups = {gid: json.loads(text) for gid, text in raw_groups.items()} if job.grouped else {}
        running = job.status == "ACTIVE"
        memo: dict[tuple[str | None, float], datetime | None] = {}

        def schedules_of(gid: str | None) -> list[WeeklySchedule | None]:
            group = groups.get(gid, {}) if gid else {}
            return [job_schedule, *recipient_schedules(config, group)]

        def hours_count(gid: str | None) -> int:
            zones = groups.get(gid, {}).get("zones", []) if gid else []
            return len(group_schedules(zones, hours, job_zone))

        out = []
        for entry, raw, att, why, paced_at in zip(page, raws, attempts, whys, paced, strict=True):
            data = json.loads(raw) if raw else ["", {}]
            gid = str(data[2]) if len(data) > 2 and data[2] is not None else None
            extra = data[3] if len(data) > 3 and isinstance(data[3], dict) else {}
            item: dict[str, Any] = {
                "rowId": f"{job_id}.{entry.index}",
                "index": int(entry.index),
                "toNumber": data[0],
                "inputs": data[1] if len(data) > 1 else {},
                "attempt": int(att or 0) + 1,
            }
            _row_fields(item, data)
            _describe_recipient(item, groups.get(gid or ""), extra, job_zone)
            start = now
            if entry.held:
                start = max(now, datetime.fromtimestamp(entry.score / 1000, UTC))
            if not running:
                item["waitingFor"], item["nextEligibleAt"] = "paused", None
                out.append(item)
                continue
            schedules = schedules_of(gid)
            key = (gid, start.timestamp())
            if key not in memo:
                memo[key] = next_eligible(schedules, start)
            eligible = memo[key]
            held_now = entry.held and start > now
            item["waitingFor"] = _waiting_for(
                (why or "retryBackoff") if held_now else None,
                schedules,
                now,
                paced=paced_at is not None and not entry.held,
                hours=hours_count(gid),
                pool_resting=pool_resting,
            )
            if item["waitingFor"] == "callingRules":
                item["heldBy"] = state_rule(groups.get(gid or "", {}).get("state")).label()
            item["nextEligibleAt"] = (
                iso_ms(round(eligible.timestamp() * 1000)) if eligible else None
            )
            out.append(item)
        return out
