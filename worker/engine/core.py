"""The engine: the parts of :mod:`worker.engine` over one Redis and namespace, and what
the actors and the timers call.

- :meth:`Engine.pump` (scheduler actor): one run of the job's scheduler
  (:mod:`worker.engine.scheduler`).
- :meth:`Engine.dial` (dial actor): claims a released row and places the call
  (:mod:`worker.engine.dialing`), handing a placement that waits on a provider to the
  process's event loop (:mod:`worker.engine.loop`).
- :meth:`Engine.end`: ends a dial (:mod:`worker.engine.endings`) and returns the rows
  released into the freed slot.
- :meth:`Engine.take_wakeups`, :meth:`Engine.reap`, :meth:`Engine.renew`,
  :meth:`Engine.retry_ends`, :meth:`Engine.heartbeat`: the timers (see
  :mod:`worker.engine.timers`), safe to run in any number of processes at once.
"""

from __future__ import annotations

import redis

from domain.dials import DialRef, FinishResult
from domain.keys import Keys
from domain.protocol import ClaimOutcome, SchedulerOutcome
from worker.dialers.base import Dialer
from worker.engine.dialing import Dialing
from worker.engine.endings import Endings
from worker.engine.heartbeat import Heartbeat
from worker.engine.jobconfig import JobConfigs
from worker.engine.leases import LeaseKeeper
from worker.engine.loop import EventLoop
from worker.engine.outbox import Outbox
from worker.engine.predial import PreDial
from worker.engine.scheduler import Scheduler
from worker.engine.timing import Timing, redis_now_ms


class Engine:
    """Scheduler, dialing, endings, leases and heartbeat, over one Redis and namespace."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        dialer: Dialer,
        outbox: Outbox,
        timing: Timing | None = None,
        *,
        loop: EventLoop | None = None,
        allow_private: bool = False,
        dials: bool = True,
    ) -> None:
        self._r = client
        #: The process's event loop, where calls waiting on a provider live.
        self.loop = loop or EventLoop()
        self.dialer = dialer
        self.outbox = outbox
        self.timing = timing or Timing()
        self.configs = JobConfigs(client, keys)
        self.keeper = LeaseKeeper(
            client,
            keys,
            self.timing.lease_ms,
            self.timing.max_call_ms,
            min_replicas=self.timing.min_replicas,
        )
        #: ``dials``: whether this process consumes dial messages (counted in shares).
        self.presence = Heartbeat(client, keys, counted=dials)
        self.endings = Endings(client, keys, self.keeper, min_replicas=self.timing.min_replicas)
        #: Ends dials by reference (what provider callbacks use too).
        self.ends = self.endings.ends
        self.scheduler = Scheduler(client, keys, self.configs, outbox, self.timing)
        self.dialing = Dialing(
            client,
            keys,
            dialer=dialer,
            outbox=outbox,
            timing=self.timing,
            configs=self.configs,
            keeper=self.keeper,
            heartbeat=self.presence,
            endings=self.endings,
            loop=self.loop,
            # Pre-dial hooks follow the webhooks' destination rule.
            predial=PreDial(client, keys, allow_private=allow_private),
        )

    @property
    def process_id(self) -> str:
        """This worker process's id among the live workers."""
        return self.presence.process_id

    def now_ms(self) -> int:
        """Redis's clock, the one every host agrees on."""
        return redis_now_ms(self._r)

    # -- actors ------------------------------------------------------------------
    def pump(self, ws_id: str, job_id: str) -> SchedulerOutcome:
        """One run of the job's scheduler; returns what it found ('open', 'closed', ...)."""
        return self.scheduler.run(ws_id, job_id)

    def dial(self, ws_id: str, job_id: str, index: int) -> ClaimOutcome:
        """Claim row ``index`` with its leases and place the call; returns the claim outcome."""
        return self.dialing.dial(ws_id, job_id, index)

    def end(
        self, ref: DialRef, status: str, reason: str = "", details: dict[str, object] | None = None
    ) -> FinishResult:
        """End a dial this process placed; the result lists rows released into its slot,
        for the caller to dial (:meth:`continue_with`)."""
        return self.endings.end(ref, status, reason, details)

    def continue_with(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows on the continuation threads (off the caller's thread)."""
        self.dialing.continue_with(ws_id, job_id, indexes)

    def dial_rows(self, ws_id: str, job_id: str, indexes: list[int]) -> None:
        """Dial released rows on the caller's thread, one after another (the rest, over
        the process's share or while draining, to the broker)."""
        self.dialing.dial_rows(ws_id, job_id, indexes)

    # -- timers ------------------------------------------------------------------
    def take_wakeups(self, limit: int = 200) -> int:
        """Send a scheduler message for each job whose wake-up is due; returns how many."""
        return self.scheduler.take_wakeups(limit)

    def retry_ends(self) -> int:
        """End the dials whose end could not be recorded while Redis was away."""
        return self.endings.retry_deferred(then=self.dialing.continue_with)

    def renew(self) -> int:
        """Renew the leases this process holds; a dial whose lease lapsed, or that ran
        past the longest allowed call, ends as failed. Returns how many ended so."""
        return self.endings.end_not_renewed(self.keeper.renew(), then=self.dialing.continue_with)

    def reap(self, limit: int = 200) -> int:
        """End as failed the dials whose lease lapsed; returns how many were ended."""
        return self.endings.reap(limit)

    def heartbeat(self) -> int:
        """Say this process is alive; learn how many worker processes are (for shares)."""
        return self.presence.beat()

    # -- stopping ----------------------------------------------------------------
    def leave(self) -> None:
        """This process stops: it no longer counts among the workers."""
        self.presence.leave()

    def drain(self) -> None:
        """Take no new call: rows released from now on go to the broker for others."""
        self.dialing.drain()

    def close(self) -> None:
        """Stop the continuation threads and the event loop (after the dialer has no
        call left; a call still waiting on the loop is abandoned, and its lease lapses)."""
        self.dialing.close()
        self.loop.stop()
