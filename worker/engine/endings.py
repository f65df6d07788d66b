"""Every way a dial that a worker placed ends, in one place (``finish_dial.lua``).

- the dialer answered with an end at once, or failed (:meth:`Endings.end_or_defer`);
- the call ended later in this process, e.g. a simulated call's timer
  (:meth:`Endings.end_or_defer`, from the dialer's callback);
- Redis was away when it ended: the end waits here, the lease is renewed meanwhile,
  and it is recorded with its real outcome when Redis is back (:meth:`Endings.retry_deferred`);
- its lease lapsed before the handoff to the provider, or while held, or the call ran
  past the longest allowed call (:meth:`Endings.end_not_renewed`);
- its holder died: the reaper ends dials whose lease lapsed, of any process
  (:meth:`Endings.reap`).

(A provider's status callback ends a dial from the API, through
:class:`domain.dials.DialEnds` too.) An end returns the rows released into the freed
slot; the caller dials them (:mod:`worker.engine.dialing`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

import redis
import structlog

from domain.dials import DialEnds, DialRef, FinishResult
from domain.keys import Keys
from domain.members import split_dial_member
from domain.metrics import LEASE_RECOVERIES
from domain.protocol import NotRenewed, RecoveryReason
from worker.engine.leases import LeaseKeeper
from worker.engine.timing import redis_now_ms

log = structlog.get_logger(__name__)

#: Pauses between attempts to end a dial while Redis fails for a moment.
END_RETRY_S = (0.1, 0.5, 2.0)
#: How a dial not renewed ends (status failed), by why it was not renewed.
NOT_RENEWED_REASONS: tuple[tuple[NotRenewed, RecoveryReason], ...] = (
    ("lost", "lease_lost"),
    ("overdue", "max_call_duration"),
)

#: What the caller does with the rows an end released: ``(ws_id, job_id, indexes)``.
Continue = Callable[[str, str, list[int]], None]


class Endings:
    """Ends dials and keeps the ends that could not be recorded yet."""

    def __init__(
        self, client: redis.Redis, keys: Keys, keeper: LeaseKeeper, *, min_replicas: int = 0
    ) -> None:
        self._r = client
        self._k = keys
        self._keeper = keeper
        self.ends = DialEnds(client, keys, min_replicas=min_replicas)
        self._pending_lock = threading.Lock()
        self._pending: dict[str, tuple[DialRef, str, str, dict[str, object] | None]] = {}

    def end(
        self, ref: DialRef, status: str, reason: str = "", details: dict[str, object] | None = None
    ) -> FinishResult:
        """End a dial this process placed; the result lists rows released into its slot.

        Ending is idempotent, so it is retried when Redis fails for a moment; the lease
        is renewed until it succeeds, so that the dial ends with its real outcome
        rather than as a lapsed lease.
        """
        for pause in (*END_RETRY_S, None):
            try:
                result = self._finish(ref, status, reason, details)
                break
            except (redis.ConnectionError, redis.TimeoutError):
                if pause is None:
                    raise
                log.warning("dial_end_retry", dial_id=ref.dial_id, retry_in_s=pause)
                time.sleep(pause)
        self._recorded(ref, status, reason, result)
        return result

    def end_or_defer(
        self, ref: DialRef, status: str, reason: str = "", details: dict[str, object] | None = None
    ) -> FinishResult | None:
        """End the dial; if Redis stays away, keep it held (its lease is renewed) and
        end it with its real outcome when Redis is back (:meth:`retry_deferred`)."""
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
                self._pending[ref.dial_id] = (ref, status, reason, details)
            return None

    def retry_deferred(self, then: Continue) -> int:
        """End the dials whose end could not be recorded while Redis was away; ``then``
        gets the rows each releases. Returns how many were ended."""
        with self._pending_lock:
            pending = list(self._pending.values())
        ended = 0
        for ref, status, reason, details in pending:
            try:
                result = self._finish(ref, status, reason, details)
            except redis.RedisError:
                return ended
            with self._pending_lock:
                self._pending.pop(ref.dial_id, None)
            self._recorded(ref, status, reason, result)
            ended += 1
            then(ref.ws_id, ref.job_id, result.released)
        return ended

    def end_not_renewed(self, reports: dict[NotRenewed, list[DialRef]], then: Continue) -> int:
        """End as failed the held dials whose lease lapsed or that ran past the longest
        allowed call (``reports`` from :meth:`LeaseKeeper.renew`); ``then`` gets the rows
        each releases. Returns how many ended so."""
        ended = 0
        for why, reason in NOT_RENEWED_REASONS:
            for ref in reports[why]:
                log.warning("dial_not_renewed", dial_id=ref.dial_id, job_id=ref.job_id, why=why)
                result = self.end(ref, "failed", reason)
                if result.outcome == "finished":
                    LEASE_RECOVERIES.labels(reason).inc()
                    ended += 1
                then(ref.ws_id, ref.job_id, result.released)
        return ended

    def reap(self, limit: int = 200) -> int:
        """End as failed the dials (of any process) whose lease lapsed; returns how many
        were ended. Their slots are freed; the job's scheduler releases the next rows."""
        now = redis_now_ms(self._r)
        expired = cast(
            list[str],
            self._r.zrangebyscore(self._k.deadlines, "-inf", now, start=0, num=limit),
        )
        ended = 0
        for member in expired:
            ws_id, job_id, dial_id = split_dial_member(member)
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

    def _finish(
        self, ref: DialRef, status: str, reason: str, details: dict[str, object] | None
    ) -> FinishResult:
        return self.ends.finish(ref, status, reason=reason, release=True, details=details)

    def _recorded(self, ref: DialRef, status: str, reason: str, result: FinishResult) -> None:
        """The dial's end is in Redis: stop renewing it, and log the state change (at
        debug, as the start: the end is in the job's event log, dial.finished)."""
        self._keeper.forget(ref.dial_id)
        if result.outcome == "finished":
            log.debug(
                "dial_finished",
                ws_id=ref.ws_id,
                dial_id=ref.dial_id,
                job_id=ref.job_id,
                status=status,
                reason=reason or None,
                job_status=result.job_status,
            )
