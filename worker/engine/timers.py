"""The timers every worker process runs on one background thread.

Wake-ups (``take_wakeups``), lease renewal, the reaper and the process's heartbeat
(how many workers share the calls) run in every process; each
step is an atomic script, so any number of processes may run them at once and none
of them is special.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import redis
import structlog

from worker.engine.core import Engine

#: The longest pause between two tries of the timers while Redis does not answer (s).
MAX_PAUSE_S = 1.0

log = structlog.get_logger(__name__)


class Timekeeper:
    """Runs the engine's timers until stopped."""

    def __init__(
        self,
        engine: Engine,
        tick_s: float = 0.1,
        reap_every_s: float = 1.0,
        extra: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.engine = engine
        #: Further steps run every tick (the webhook delivery's tick).
        self.extra = tuple(extra)
        self.tick_s = tick_s
        self.reap_every_s = reap_every_s
        self.renew_every_s = max(engine.timing.lease_ms / 3000, 0.2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the timer thread."""
        self._thread = threading.Thread(target=self._run, name="batchdial-timekeeper", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the timer thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        last_reap = last_renew = 0.0
        failures = 0
        while not self._stop.is_set():
            try:
                self.engine.retry_ends()
                self.engine.take_wakeups()
                for step in self.extra:
                    step()
                now = time.monotonic()
                if now - last_renew >= self.renew_every_s:
                    self.engine.renew()
                    last_renew = now
                if now - last_reap >= self.reap_every_s:
                    self.engine.reap()
                    self.engine.heartbeat()
                    last_reap = now
                failures = 0
                self._stop.wait(self.tick_s)
            except redis.RedisError as exc:
                failures += 1
                # At most a second apart: after a failover the renewals and wake-ups
                # must reach the new primary soon (docs/failover.md); a try costs little.
                pause = min(0.1 * 2**failures, MAX_PAUSE_S)
                log.warning("timekeeper_redis_error", error=type(exc).__name__, retry_in_s=pause)
                self._stop.wait(pause)
            except Exception:  # worker-loop boundary: the timers must keep running
                log.exception("timekeeper_error")
                self._stop.wait(1.0)
