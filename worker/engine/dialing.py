"""Dialing: what the dial actor does with a released row, and the fair share.

A dial claims the row and its three leases in one step (``claim.lua``: the job's cap,
the workspace's dial limit, the least busy pool number with room), places the call
through the dialer, and ends it (:mod:`worker.engine.endings`) or leaves it to its
owner: the dialer's own timer, or the provider, which reports the end by callback.
Rows that an end releases into the freed slot are dialed here too, one after another,
while this process holds less than its fair share of the job's calls; the rest go to
the broker. A claim refused for pacing leaves its row released and parks it in the
pacer (:mod:`worker.engine.pacing`), which claims it again when a start conforms.

A dialer that answers with a coroutine (the http dialer) is not waited for: the
coroutine runs on the process's event loop (:mod:`worker.engine.loop`) and the actor's
thread returns at once, so a call in progress never holds a thread. When the answer
comes, the continuation threads record it (a handoff, an end, or a failure) and dial
the rows its end released; ends reported from the loop (simulated timers) go there
too, since recording touches Redis and nothing may block the loop.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import structlog

from domain.dials import DialRef, FinishResult, new_dial_id
from domain.keys import Keys
from domain.members import dial_member, job_member
from domain.protocol import Claimed, ClaimOutcome, ClaimRefused
from domain.rowform import row_agent
from worker.dialers.base import Dialer, DialRequest, Placed
from worker.engine.endings import Endings
from worker.engine.heartbeat import Heartbeat
from worker.engine.jobconfig import JobConfig, JobConfigs
from worker.engine.leases import LeaseKeeper
from worker.engine.loop import EventLoop
from worker.engine.outbox import Outbox
from worker.engine.pacing import Pacer
from worker.engine.predial import PreDial, PreDialHook, Verdict, fallback
from worker.engine.replicated import DurableClaims
from worker.engine.timing import Timing
from worker.metrics import (
    DIALS_STARTED,
    PACING_REFUSALS,
    SEMAPHORE_REFUSALS,
    WINDOW_TO_FIRST_DIAL,
)

log = structlog.get_logger(__name__)

#: Rows one thread dials one after another into slots that free at once.
INLINE_DIALS = 64
#: Threads that dial into slots freed by calls ending off the actor threads.
CONTINUATION_THREADS = 4


class Dialing:
    """Claims rows, places calls, and dials the rows their ends release."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        dialer: Dialer,
        outbox: Outbox,
        timing: Timing,
        configs: JobConfigs,
        keeper: LeaseKeeper,
        heartbeat: Heartbeat,
        endings: Endings,
        loop: EventLoop,
        predial: PreDial | None = None,
    ) -> None:
        self._k = keys
        self._dialer = dialer
        self._outbox = outbox
        self._timing = timing
        self._configs = configs
        self._keeper = keeper
        self._heartbeat = heartbeat
        self._endings = endings
        self._loop = loop
        self._predial = predial or PreDial(client, keys)
        # The claim, on BATCHDIAL_REDIS_MIN_REPLICAS replicas or undone (SPEC §8.6).
        self._claims = DurableClaims(
            client,
            keys,
            endings.ends,
            timing.min_replicas,
            timing.lease_ms,
            resend=outbox.send_dial,
        )
        self._draining = threading.Event()
        self._continuations = ThreadPoolExecutor(
            max_workers=CONTINUATION_THREADS, thread_name_prefix="batchdial-continue"
        )
        self.pacer = Pacer(self._try_paced)

    def dial(self, ws_id: str, job_id: str, index: int) -> ClaimOutcome:
        """Claim row ``index`` with its leases and place the call; returns the claim outcome.

        When the call ends at once, the rows released into its slot are dialed here
        too, one after another (up to ``INLINE_DIALS``), instead of through the broker.
        """
        outcome, released = self._dial_once(ws_id, job_id, index)
        self._dial_chain(ws_id, job_id, released)
        return outcome

    def continue_with(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows on the continuation threads (off the caller's thread)."""
        if not indexes:
            return
        try:
            self._continuations.submit(self._continue_safely, ws_id, job_id, indexes)
        except RuntimeError:  # shutting down: the broker takes them
            for index in indexes:
                self._outbox.send_dial(ws_id, job_id, index)

    def dial_rows(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows on the caller's thread (the refill taker's): a hop to a
        continuation thread would add a wake-up to each refill."""
        self._continue_safely(ws_id, job_id, indexes)

    def over_share(self, ws_id: str, job_id: str) -> bool:
        """Whether this process holds at least its fair share of the job's calls: the
        job's cap over the live worker processes, rounded up."""
        workers = self._heartbeat.workers
        if workers <= 1:
            return False
        config = self._configs.get(ws_id, job_id)
        if config is None:
            return False
        return self._keeper.held_for(job_id) >= -(-config.cap // workers)

    def drain(self) -> None:
        """Take no new call: rows released from now on go to the broker for others, and
        so do the rows waiting in the pacer."""
        self._draining.set()
        for ws_id, job_id, index in self.pacer.take_all():
            self._outbox.send_dial(ws_id, job_id, index)

    def close(self) -> None:
        """Stop the pacer and the continuation threads (after the dialer has no call left)."""
        self.pacer.close()
        self._continuations.shutdown(wait=True)
        self._predial.close()

    def _try_paced(self, ws_id: str, job_id: str, index: int) -> None:
        """The pacer's row is due: claim it again on a continuation thread."""
        if self._draining.is_set():
            self.pacer.tried(ws_id, job_id, index)
            self._outbox.send_dial(ws_id, job_id, index)
            return
        try:
            self._continuations.submit(self._paced_safely, ws_id, job_id, index)
        except RuntimeError:  # shutting down: the broker takes it
            self.pacer.tried(ws_id, job_id, index)
            self._outbox.send_dial(ws_id, job_id, index)

    def _paced_safely(self, ws_id: str, job_id: str, index: int) -> None:
        released: list[int] = []
        try:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                _, released = self._dial_once(ws_id, job_id, index)
        except Exception:  # worker-loop boundary; the released row is recovered as stale
            log.exception("paced_dial_failed", job_id=job_id)
        finally:
            self.pacer.tried(ws_id, job_id, index)
        self._continue_safely(ws_id, job_id, released)

    def _dial_chain(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows in this thread; what is left over goes to the broker.

        A process that already holds its share of the job's calls sends the rows to the
        broker instead, so that calls spread over the workers rather than staying with
        whoever held them first.
        """
        todo = deque(indexes)
        done = 0
        while todo and done < INLINE_DIALS and not self._draining.is_set():
            if self.over_share(ws_id, job_id):
                break
            _, more = self._dial_once(ws_id, job_id, todo.popleft())
            todo.extend(more)
            done += 1
        for index in todo:
            self._outbox.send_dial(ws_id, job_id, index)

    def _continue_safely(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        try:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                self._dial_chain(ws_id, job_id, indexes)
        except Exception:  # worker-loop boundary; released rows are recovered by the scheduler
            log.exception("continuation_failed", job_id=job_id)

    def _dial_once(self, ws_id: str, job_id: str, index: int) -> tuple[ClaimOutcome, list[int]]:
        """One claim and call; returns the claim outcome and rows released by its end.
        The attempt (1, or more for a row being retried) is the one Redis records."""
        config = self._configs.get(ws_id, job_id)
        if config is None:
            return "gone", []
        template = new_dial_id(job_id, index, "{attempt}", secrets.token_hex(4))
        claim = self._claim(ws_id, job_id, index, template, config=config)
        if claim.outcome == "stale":
            config = self._configs.reload(ws_id, job_id)
            if config is None:
                return "gone", []
            claim = self._claim(ws_id, job_id, index, template, config=config)
        if isinstance(claim, ClaimRefused):
            if claim.outcome == "paced":
                PACING_REFUSALS.labels(claim.limit).inc()
                self.pacer.park(ws_id, job_id, index, claim.wait_ms or 0)
            elif claim.limit is not None:
                SEMAPHORE_REFUSALS.labels(claim.limit).inc()
            log.debug("dial_not_claimed", job_id=job_id, index=index, outcome=claim.outcome)
            return claim.outcome, []
        return "ok", self._place(ws_id, job_id, index, config, claim)

    def _place(
        self, ws_id: str, job_id: str, index: int, config: JobConfig, claim: Claimed
    ) -> list[int]:
        """Place the claimed call; returns the rows released if it ended at once."""
        dial_id = claim.dial_id
        # At debug: a line per dial cost a third of a dial's worker CPU (bench/RESULTS.md);
        # the start is in the job's event log (dial.started) and in the metrics anyway.
        log.debug(
            "dial_started",
            ws_id=ws_id,
            job_id=job_id,
            row_id=f"{job_id}.{index}",
            dial_id=dial_id,
            from_number=claim.from_number,
        )
        if claim.opened_ms is not None:
            WINDOW_TO_FIRST_DIAL.observe(max(0.0, (claim.started_ms - claim.opened_ms) / 1000))
        row = json.loads(claim.row)
        ref = DialRef(ws_id, job_id, dial_id, claim.number_id)
        self._keeper.hold(ref)
        request = DialRequest(
            dial_id=dial_id,
            job_id=job_id,
            row_id=f"{job_id}.{index}",
            to_number=row[0],
            from_number=claim.from_number,
            call_agent_id=row_agent(row) or config.call_agent_id,
            inputs=row[1] if len(row) > 1 else {},
            attempt=claim.attempt,
            voicemail=config.voicemail,
        )
        if config.predial is not None:  # asked on the loop first (worker/engine/predial.py)
            self._loop.submit(self._ask_first(ref, request, config.predial))
            return []
        return self._call(ref, request)

    async def _ask_first(self, ref: DialRef, request: DialRequest, hook: PreDialHook) -> None:
        """On the loop: the pre-dial hook's verdict, then the call or its withdrawal on
        a continuation thread."""
        try:
            verdict = await self._predial.ask(hook, request)
        except Exception as exc:  # event-loop boundary: the dial must still be decided
            log.exception("predial_failed", dial_id=ref.dial_id, job_id=ref.job_id)
            verdict = fallback(hook, f"pre-dial error: {type(exc).__name__}")
        self._offload(self._decided, ref, request, verdict)

    def _decided(self, ref: DialRef, request: DialRequest, verdict: Verdict) -> None:
        with structlog.contextvars.bound_contextvars(ws_id=ref.ws_id, job_id=ref.job_id):
            if verdict.action == "dial":
                released = self._call(ref, request)
            else:
                released = []
                try:
                    self._predial.withdraw(ref, verdict)
                finally:  # withdrawn, or (Redis away) left to lapse and be reaped
                    self._keeper.forget(ref.dial_id)
            self._dial_chain(ref.ws_id, ref.job_id, released)

    def _call(self, ref: DialRef, request: DialRequest) -> list[int]:
        """Place the call; returns the rows released if it ended at once."""
        dial_id = ref.dial_id
        DIALS_STARTED.inc()
        try:
            answer = self._dialer.place(
                request,
                lambda status, reason: self._offload(self._ended_elsewhere, ref, status, reason),
            )
        except Exception as exc:  # worker-loop boundary: the dial must still end
            log.exception("dialer_failed", dial_id=dial_id, job_id=ref.job_id)
            answer = Placed(status="failed", reason=f"dialer error: {type(exc).__name__}")
        if isinstance(answer, Placed):
            return self._record(ref, answer)
        self._loop.submit(self._await_answer(ref, answer))
        return []

    def _record(self, ref: DialRef, placed: Placed) -> list[int]:
        """Record what placing gave; returns the rows released if the call ended."""
        if placed.status is not None:
            return _released(
                self._endings.end_or_defer(ref, placed.status, placed.reason, placed.details)
            )
        if placed.retry_in_s is not None:
            # No call was placed (a carrier's rate limit): the row goes back, no failed dial.
            self._keeper.forget(ref.dial_id)
            outcome = self._endings.ends.put_back(
                ref, round(placed.retry_in_s * 1000), reason=placed.reason, details=placed.details
            )
            log.info("dial_put_back", dial_id=ref.dial_id, job_id=ref.job_id, outcome=outcome)
            return []
        if placed.call_id:
            self._endings.ends.record_call(ref, placed.carrier, placed.call_id)
        if placed.handoff and placed.live_status:
            self._endings.ends.set_live_status(ref, placed.live_status, carrier=True)
        if placed.handoff and self._keeper.handoff(ref) == "lost":
            log.warning("lease_lost_before_handoff", dial_id=ref.dial_id, job_id=ref.job_id)
            return _released(self._endings.end_or_defer(ref, "failed", "lease_lost"))
        return []

    async def _await_answer(self, ref: DialRef, answer: Coroutine[Any, Any, Placed]) -> None:
        """On the event loop: wait for the provider's answer, then record it on a
        continuation thread. The lease is renewed all the while (the dial is held)."""
        try:
            placed = await answer
        except Exception as exc:  # event-loop boundary: the dial must still end
            log.exception("dialer_failed", dial_id=ref.dial_id, job_id=ref.job_id)
            placed = Placed(status="failed", reason=f"dialer error: {type(exc).__name__}")
        self._offload(self._answered, ref, placed)

    def _answered(self, ref: DialRef, placed: Placed) -> None:
        """A continuation thread: the answer of a call placed on the loop."""
        with structlog.contextvars.bound_contextvars(ws_id=ref.ws_id, job_id=ref.job_id):
            self._dial_chain(ref.ws_id, ref.job_id, self._record(ref, placed))

    def _offload(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a continuation thread (so that nothing blocks the loop);
        inline once those are stopped."""
        try:
            self._continuations.submit(self._safely, fn, *args)
        except RuntimeError:  # shutting down
            self._safely(fn, *args)

    @staticmethod
    def _safely(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # thread boundary; a dial left held is ended by its lease
            log.exception("continuation_failed")

    def _ended_elsewhere(self, ref: DialRef, status: str, reason: str) -> None:
        """A call living in this process ended (simulated timer; on a continuation
        thread): end it, and dial into its slot."""
        result = self._endings.end_or_defer(ref, status, reason)
        if result is not None:
            with structlog.contextvars.bound_contextvars(ws_id=ref.ws_id, job_id=ref.job_id):
                self._dial_chain(ref.ws_id, ref.job_id, result.released)

    def _claim(
        self, ws_id: str, job_id: str, index: int, template: str, *, config: JobConfig
    ) -> Claimed | ClaimRefused:
        return self._claims.claim(
            ws_id,
            job_id,
            index,
            token=template.rsplit("_", 1)[1],
            keys=self._k.script_keys(ws_id, job_id),
            args=[
                job_member(ws_id, job_id),
                job_id,
                config.ver,
                index,
                template,
                self._timing.lease_ms,
                config.cap,
                ",".join(config.pool),
                ws_id,
                dial_member(ws_id, job_id, template),
                self._timing.max_dials_per_second or "",
                config.caller_id,
                *config.local_hints,
            ],
        )


def _released(ended: FinishResult | None) -> list[int]:
    return ended.released if ended else []
