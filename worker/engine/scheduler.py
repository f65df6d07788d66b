"""The scheduler (once called "the pump"): what the scheduler actor does for a job.

One run evaluates the job's window (and its recipient groups' hours) at Redis time and
lets ``domain/lua/engine/scheduler.lua`` record window changes, put due rows back in the
queue, release as many rows as the job's free capacity allows (its cap less rows
released or dialing) and set the job's next wake-up. Each released row becomes one dial
message. Due wake-ups (``take_wakeups.lua``) become scheduler messages.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
import structlog

from domain.keys import Keys
from domain.members import job_member
from domain.protocol import SchedulerOutcome, parse_scheduler, parse_take_wakeups
from domain.scripts import Scripts
from domain.time.eligibility import window
from domain.time.schedule import is_open, next_close, next_open
from worker.engine.jobconfig import JobConfig, JobConfigs
from worker.engine.outbox import Outbox
from worker.engine.timing import Timing, redis_now_ms
from worker.metrics import PUMP_RELEASED, PUMP_RUNS

log = structlog.get_logger(__name__)

#: What "open until" a group that never closes gets (ms: the largest exact float).
FOREVER_MS = 2**53 - 1
#: Runs of one message before giving up (each ``stale`` or ``recompute`` runs again).
RUNS_PER_MESSAGE = 4


def _ms(when: datetime | None) -> int:
    return 0 if when is None else round(when.timestamp() * 1000)


def group_windows(config: JobConfig, at: datetime) -> list[int | str]:
    """For ``scheduler.lua``: per recipient group, its id, until when it is open (0 =
    closed) and when that next changes (0 = never)."""
    out: list[int | str] = []
    for gid, schedules in config.groups:
        open_now, change = window(schedules, at)
        until = (_ms(change) or FOREVER_MS) if open_now else 0
        out += [gid, until, _ms(change)]
    return out


class Scheduler:
    """Runs a job's scheduler, and turns due wake-ups into scheduler messages."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        configs: JobConfigs,
        outbox: Outbox,
        timing: Timing,
    ) -> None:
        self._r = client
        self._k = keys
        self._configs = configs
        self._outbox = outbox
        self._timing = timing
        self._scripts = Scripts(client, "engine")

    def run(self, ws_id: str, job_id: str) -> SchedulerOutcome:
        """One run of the job's scheduler; returns what it found ('open', 'closed', ...)."""
        member = job_member(ws_id, job_id)
        keys = self._k.script_keys(ws_id, job_id)
        outcome: SchedulerOutcome = "stale"
        for _ in range(RUNS_PER_MESSAGE):
            config = self._configs.get(ws_id, job_id)
            if config is None:
                self._r.zrem(self._k.wakeups, member)
                return "missing"
            now = redis_now_ms(self._r)
            at = datetime.fromtimestamp(now / 1000, UTC)
            open_now = is_open(config.schedule, at)
            change = next_close(config.schedule, at) if open_now else next_open(config.schedule, at)
            result = parse_scheduler(
                self._scripts(
                    "scheduler",
                    keys,
                    [
                        member,
                        job_id,
                        config.ver,
                        "1" if open_now else "0",
                        _ms(change),
                        now,
                        config.cap,
                        self._timing.recheck_ms,
                        self._timing.stale_release_ms,
                        *group_windows(config, at),
                    ],
                )
            )
            outcome = result.outcome
            PUMP_RUNS.labels(outcome).inc()
            if outcome == "stale":
                self._configs.reload(ws_id, job_id)
                continue
            if outcome == "recompute":
                continue
            if outcome == "open":
                PUMP_RELEASED.inc(len(result.released))
                self._outbox.send_dials(ws_id, job_id, result.released)
            return outcome
        log.warning("pump_gave_up", ws_id=ws_id, job_id=job_id, outcome=outcome)
        return outcome

    def take_wakeups(self, limit: int = 200) -> int:
        """Send a scheduler message for each job whose wake-up is due; returns how many."""
        due = parse_take_wakeups(
            self._scripts("take_wakeups", [self._k.wakeups], [limit, self._timing.wakeup_retry_ms])
        ).due
        for ws_id, job_id in due:
            self._outbox.send_pump(ws_id, job_id)
        return len(due)
