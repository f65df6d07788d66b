"""The engine: what the scheduler and dial actors do, and the timers every worker runs.

- :meth:`Engine.pump` (scheduler actor): evaluates the job's window at Redis time and
  releases as many rows as the job's free capacity allows (``pump.lua``).
- :meth:`Engine.dial` (dial actor): claims a released row and its leases
  (``claim.lua``), places the call, and ends it or leaves it to its owner.
- :meth:`Engine.end`: ends a dial (``finish_dial.lua``) and releases the next rows
  into the freed slots at once.
- :meth:`Engine.take_wakeups`, :meth:`Engine.reap`, :meth:`Engine.renew`: the timers
  (see :mod:`worker.timekeeper`), safe to run in any number of processes at once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, cast

import redis
import structlog

from domain.dials import DialEnds, DialRef, FinishResult, new_dial_id
from domain.keys import Keys, dial_member, job_member
from domain.metrics import LEASE_RECOVERIES
from domain.recipients import window
from domain.schedule import is_open, next_close, next_open
from domain.scripts import Scripts
from worker.dialers.base import Dialer, DialRequest, Placed
from worker.jobconfig import JobConfig, JobConfigs
from worker.leases import LeaseKeeper
from worker.metrics import (
    DIALS_STARTED,
    PUMP_RELEASED,
    PUMP_RUNS,
    SEMAPHORE_REFUSALS,
    WINDOW_TO_FIRST_DIAL,
)

log = structlog.get_logger(__name__)


class Outbox(Protocol):
    """Sends actor messages."""

    def send_pump(self, ws_id: str, job_id: str) -> None:
        """Ask for one run of the job's pump."""
        ...

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        """Ask for one dial of a released row."""
        ...


@dataclass(frozen=True)
class Timing:
    """Durations the engine works with, in milliseconds."""

    lease_ms: int = 30_000
    max_call_ms: int = 3_600_000
    #: The pump of an ACTIVE job runs at least this often (recovers lost messages).
    recheck_ms: int = 10_000
    #: A released row unclaimed for this long goes back to the queue: its message most
    #: likely died with a worker that had prefetched it. Taking it back early costs at
    #: most a second message for the row (the first to claim it wins; the other finds
    #: nothing), while every second it stays released holds one of the job's slots.
    stale_release_ms: int = 15_000
    #: A taken wake-up is retried after this long if its pump never ran.
    wakeup_retry_ms: int = 30_000


#: Rows one thread dials one after another into slots that free at once.
INLINE_DIALS = 64
#: Threads that dial into slots freed by calls ending off the actor threads.
CONTINUATION_THREADS = 4
#: A worker process that has not said it is alive for this long no longer counts.
WORKER_SILENCE_MS = 10_000
#: Pauses between attempts to end a dial while Redis fails for a moment.
END_RETRY_S = (0.1, 0.5, 2.0)


def _ms(when: datetime | None) -> int:
    return 0 if when is None else round(when.timestamp() * 1000)


#: What "open until" a group that never closes gets (ms: the largest exact float).
FOREVER_MS = 2**53 - 1


def group_windows(config: JobConfig, at: datetime) -> list[int | str]:
    """For ``pump.lua``: per recipient group, its id, until when it is open (0 = closed)
    and when that next changes (0 = never)."""
    out: list[int | str] = []
    for gid, schedules in config.groups:
        open_now, change = window(schedules, at)
        until = (_ms(change) or FOREVER_MS) if open_now else 0
        out += [gid, until, _ms(change)]
    return out


class Engine:
    """Pump, dial, end, and the timers, over one Redis and namespace."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        dialer: Dialer,
        outbox: Outbox,
        timing: Timing | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self.dialer = dialer
        self.outbox = outbox
        self.timing = timing or Timing()
        self.configs = JobConfigs(client, keys)
        self.ends = DialEnds(client, keys)
        self.keeper = LeaseKeeper(client, keys, self.timing.lease_ms, self.timing.max_call_ms)
        self._scripts = Scripts(client, "worker")
        self._draining = threading.Event()
        self._pending_lock = threading.Lock()
        self._pending_ends: dict[str, tuple[DialRef, str, str, dict[str, object] | None]] = {}
        self._continuations = ThreadPoolExecutor(
            max_workers=CONTINUATION_THREADS, thread_name_prefix="batchdial-continue"
        )
        self.process_id = secrets.token_hex(8)
        self._workers = 1

    def now_ms(self) -> int:
        """Redis's clock, the one every host agrees on."""
        seconds, micros = self._r.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # -- scheduler -----------------------------------------------------------
    def pump(self, ws_id: str, job_id: str) -> str:
        """One run of the job's pump; returns what it found ('open', 'closed', ...)."""
        member = job_member(ws_id, job_id)
        keys = self._k.script_keys(ws_id, job_id)
        outcome = "stale"
        for _ in range(4):
            config = self.configs.get(ws_id, job_id)
            if config is None:
                self._r.zrem(self._k.wakeups, member)
                return "missing"
            now = self.now_ms()
            at = datetime.fromtimestamp(now / 1000, UTC)
            open_now = is_open(config.schedule, at)
            change = next_close(config.schedule, at) if open_now else next_open(config.schedule, at)
            result = cast(
                list[str],
                self._scripts(
                    "pump",
                    keys,
                    [
                        member,
                        job_id,
                        config.ver,
                        "1" if open_now else "0",
                        _ms(change),
                        now,
                        config.cap,
                        self.timing.recheck_ms,
                        self.timing.stale_release_ms,
                        *group_windows(config, at),
                    ],
                ),
            )
            outcome = result[0]
            PUMP_RUNS.labels(outcome).inc()
            if outcome == "stale":
                self.configs.reload(ws_id, job_id)
                continue
            if outcome == "recompute":
                continue
            if outcome == "open":
                PUMP_RELEASED.inc(len(result) - 1)
                for index in result[1:]:
                    self.outbox.send_dial(ws_id, job_id, int(index))
            return outcome
        log.warning("pump_gave_up", ws_id=ws_id, job_id=job_id, outcome=outcome)
        return outcome

    # -- dialing ---------------------------------------------------------------
    def dial(self, ws_id: str, job_id: str, index: int) -> str:
        """Claim row ``index`` with its leases and place the call; returns the claim outcome.

        When the call ends at once, the rows released into its slot are dialed here
        too, one after another (up to ``INLINE_DIALS``), instead of through the broker.
        """
        outcome, released = self._dial_once(ws_id, job_id, index)
        self._dial_chain(ws_id, job_id, released)
        return outcome

    def _dial_chain(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows in this thread; what is left over goes to the broker.

        A process that already holds its share of the job's calls (the cap over the
        live worker processes) sends the rows to the broker instead, so that calls
        spread over the workers rather than staying with whoever held them first.
        """
        todo = deque(indexes)
        done = 0
        while todo and done < INLINE_DIALS and not self._draining.is_set():
            if self._over_share(ws_id, job_id):
                break
            _, more = self._dial_once(ws_id, job_id, todo.popleft())
            todo.extend(more)
            done += 1
        for index in todo:
            self.outbox.send_dial(ws_id, job_id, index)

    def _over_share(self, ws_id: str, job_id: str) -> bool:
        """Whether this process holds at least its fair share of the job's calls."""
        workers = self._workers
        if workers <= 1:
            return False
        config = self.configs.get(ws_id, job_id)
        if config is None:
            return False
        return self.keeper.held_for(job_id) >= -(-config.cap // workers)

    def heartbeat(self) -> int:
        """Say this process is alive; learn how many worker processes are (for shares)."""
        alive = int(
            self._scripts("heartbeat", [self._k.workers], [self.process_id, WORKER_SILENCE_MS])
        )
        self._workers = max(1, alive)
        return self._workers

    def leave(self) -> None:
        """This process stops: it no longer counts among the workers."""
        self._r.zrem(self._k.workers, self.process_id)

    def _dial_once(self, ws_id: str, job_id: str, index: int) -> tuple[str, list[int]]:
        """One claim and call; returns the claim outcome and rows released by its end.
        The attempt (1, or more for a row being retried) is the one Redis records."""
        config = self.configs.get(ws_id, job_id)
        if config is None:
            return "gone", []
        template = new_dial_id(job_id, index, "{attempt}", secrets.token_hex(4))
        result = self._claim(ws_id, job_id, index, template, config=config)
        if result[0] == "stale":
            config = self.configs.reload(ws_id, job_id)
            if config is None:
                return "gone", []
            result = self._claim(ws_id, job_id, index, template, config=config)
        if result[0] != "ok":
            if result[0] == "full":
                SEMAPHORE_REFUSALS.labels(result[1]).inc()
            log.debug("dial_not_claimed", job_id=job_id, index=index, outcome=result[0])
            return result[0], []
        _, from_number, number_id, row_json, started, opened, dial_id, attempt_text = result
        attempt = int(attempt_text)
        DIALS_STARTED.inc()
        log.info(
            "dial_started",
            ws_id=ws_id,
            job_id=job_id,
            row_id=f"{job_id}.{index}",
            dial_id=dial_id,
            from_number=from_number,
        )
        if opened:
            WINDOW_TO_FIRST_DIAL.observe(max(0.0, (int(started) - int(opened)) / 1000))
        row = json.loads(row_json)
        ref = DialRef(ws_id, job_id, dial_id, number_id)
        self.keeper.hold(ref)
        request = DialRequest(
            dial_id=dial_id,
            job_id=job_id,
            row_id=f"{job_id}.{index}",
            to_number=row[0],
            from_number=from_number,
            call_agent_id=config.call_agent_id,
            inputs=row[1] if len(row) > 1 else {},
            attempt=attempt,
        )
        try:
            placed = self.dialer.place(
                request, lambda status, reason: self._ended_elsewhere(ref, status, reason)
            )
        except Exception as exc:  # worker-loop boundary: the dial must still end
            log.exception("dialer_failed", dial_id=dial_id, job_id=job_id)
            placed = Placed(status="failed", reason=f"dialer error: {type(exc).__name__}")
        if placed.status is not None:
            ended = self._end_or_defer(ref, placed.status, placed.reason, placed.details)
            return "ok", ended.released if ended else []
        if placed.handoff and self.keeper.handoff(ref) == "lost":
            log.warning("lease_lost_before_handoff", dial_id=dial_id, job_id=job_id)
            ended = self._end_or_defer(ref, "failed", "lease_lost")
            return "ok", ended.released if ended else []
        return "ok", []

    def _claim(
        self, ws_id: str, job_id: str, index: int, template: str, *, config: JobConfig
    ) -> list[str]:
        return cast(
            list[str],
            self._scripts(
                "claim",
                self._k.script_keys(ws_id, job_id),
                [
                    job_member(ws_id, job_id),
                    job_id,
                    config.ver,
                    index,
                    template,
                    self.timing.lease_ms,
                    config.cap,
                    ",".join(config.pool),
                    ws_id,
                    dial_member(ws_id, job_id, template),
                ],
            ),
        )

    def end(
        self, ref: DialRef, status: str, reason: str = "", details: dict[str, object] | None = None
    ) -> FinishResult:
        """End a dial this process placed; the result lists rows released into its slot,
        for the caller to dial (:meth:`continue_with`).

        Ending is idempotent, so it is retried when Redis fails for a moment; the lease
        is renewed until it succeeds, so that the dial ends with its real outcome
        rather than as a lapsed lease.
        """
        for pause in (*END_RETRY_S, None):
            try:
                result = self.ends.finish(ref, status, reason=reason, release=True, details=details)
                break
            except (redis.ConnectionError, redis.TimeoutError):
                if pause is None:
                    raise
                log.warning("dial_end_retry", dial_id=ref.dial_id, retry_in_s=pause)
                time.sleep(pause)
        self._recorded(ref, status, reason, result)
        return result

    def _recorded(self, ref: DialRef, status: str, reason: str, result: FinishResult) -> None:
        """The dial's end is in Redis: stop renewing it, and log the state change."""
        self.keeper.forget(ref.dial_id)
        if result.outcome == "finished":
            log.info(
                "dial_finished",
                ws_id=ref.ws_id,
                dial_id=ref.dial_id,
                job_id=ref.job_id,
                status=status,
                reason=reason or None,
                job_status=result.job_status,
            )

    def continue_with(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows on the continuation threads (off the caller's thread)."""
        if not indexes:
            return
        try:
            self._continuations.submit(self._continue_safely, ws_id, job_id, indexes)
        except RuntimeError:  # shutting down: the broker takes them
            for index in indexes:
                self.outbox.send_dial(ws_id, job_id, index)

    def _continue_safely(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        try:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                self._dial_chain(ws_id, job_id, indexes)
        except Exception:  # worker-loop boundary; released rows are recovered by the pump
            log.exception("continuation_failed", job_id=job_id)

    def _ended_elsewhere(self, ref: DialRef, status: str, reason: str) -> None:
        """A call living in this process ended (simulated timer): end it, continue."""
        result = self._end_or_defer(ref, status, reason)
        if result is not None:
            self.continue_with(ref.ws_id, ref.job_id, result.released)

    def _end_or_defer(
        self, ref: DialRef, status: str, reason: str = "", details: dict[str, object] | None = None
    ) -> FinishResult | None:
        """End the dial; if Redis stays away, keep it held (its lease is renewed) and
        end it with its real outcome when Redis is back (:meth:`retry_ends`)."""
        try:
            return self.end(ref, status, reason, details)
        except redis.RedisError as exc:
            log.warning(
                "dial_end_deferred",
                dial_id=ref.dial_id,
                job_id=ref.job_id,
                error=type(exc).__name__,
            )
            with self._pending_lock:
                self._pending_ends[ref.dial_id] = (ref, status, reason, details)
            return None

    def retry_ends(self) -> int:
        """End the dials whose end could not be recorded while Redis was away."""
        with self._pending_lock:
            pending = list(self._pending_ends.values())
        ended = 0
        for ref, status, reason, details in pending:
            try:
                result = self.ends.finish(ref, status, reason=reason, release=True, details=details)
            except redis.RedisError:
                return ended
            with self._pending_lock:
                self._pending_ends.pop(ref.dial_id, None)
            self._recorded(ref, status, reason, result)
            ended += 1
            self.continue_with(ref.ws_id, ref.job_id, result.released)
        return ended

    def drain(self) -> None:
        """Take no new call: rows released from now on go to the broker for others."""
        self._draining.set()

    def close(self) -> None:
        """Stop the continuation threads (after the dialer has no call left)."""
        self._continuations.shutdown(wait=True)

    # -- timers ----------------------------------------------------------------
    def take_wakeups(self, limit: int = 200) -> int:
        """Send a pump message for each job whose wake-up is due; returns how many."""
        due = cast(
            list[str],
            self._scripts("take_wakeups", [self._k.wakeups], [limit, self.timing.wakeup_retry_ms]),
        )
        for member in due:
            ws_id, _, job_id = member.partition("|")
            self.outbox.send_pump(ws_id, job_id)
        return len(due)

    def reap(self, limit: int = 200) -> int:
        """End as failed the dials whose lease lapsed; returns how many were ended."""
        now = self.now_ms()
        expired = cast(
            list[str],
            self._r.zrangebyscore(self._k.deadlines, "-inf", now, start=0, num=limit),
        )
        ended = 0
        for member in expired:
            ws_id, job_id, dial_id = member.split("|")
            number_id = cast(str | None, self._r.hget(self._k.dial(ws_id, dial_id), "fromNumberId"))
            if number_id is None:
                self._r.zrem(self._k.deadlines, member)
                continue
            result = self.ends.finish(
                DialRef(ws_id, job_id, dial_id, number_id), "failed", only_if_expired=True
            )
            if result.outcome == "finished":
                ended += 1
                log.warning("dial_reaped", dial_id=dial_id, job_id=job_id)
        return ended

    def renew(self) -> int:
        """Renew the leases this process holds; a dial whose lease lapsed, or that ran
        past the longest allowed call, ends as failed. Returns how many ended so."""
        reports = self.keeper.renew()
        ended = 0
        for why, reason in (("lost", "lease_lost"), ("overdue", "max_call_duration")):
            for ref in reports[why]:
                log.warning("dial_not_renewed", dial_id=ref.dial_id, job_id=ref.job_id, why=why)
                result = self.end(ref, "failed", reason)
                if result.outcome == "finished":
                    LEASE_RECOVERIES.labels(reason).inc()
                    ended += 1
                self.continue_with(ref.ws_id, ref.job_id, result.released)
        return ended
