"""The simulated dialer: no network; calls last a set time and end with a weighted
random outcome. A call in progress is a timer on the process's event loop
(:mod:`worker.engine.loop`), not a thread."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

import structlog

from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.engine.loop import EventLoop

log = structlog.get_logger(__name__)


class SimulatedDialer:
    """Ends each call after ``call_seconds`` with an outcome drawn from ``weights``.

    ``loop`` is the process's event loop; without one the dialer runs a loop of its own
    (stopped by :meth:`close`).
    """

    def __init__(
        self,
        call_seconds: float,
        weights: Mapping[str, float],
        seed: int | None = None,
        loop: EventLoop | None = None,
    ) -> None:
        self.call_seconds = call_seconds
        self._outcomes = list(weights)
        self._weights = [weights[o] for o in self._outcomes]
        self._random = random.Random(seed)  # noqa: S311 -- a simulation, not security
        self._lock = threading.Lock()
        self._own_loop = loop is None
        self._loop = loop or EventLoop("batchdial-simulated-calls")
        self._pending = 0
        self._closed = False

    def outcome(self) -> str:
        """One outcome drawn from the weights."""
        with self._lock:
            return self._random.choices(self._outcomes, self._weights)[0]

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        """End at once for zero-length calls; otherwise end on a timer of the loop."""
        status = self.outcome()
        if self.call_seconds <= 0:
            return Placed(status=status)
        with self._lock:
            self._pending += 1

        def end() -> None:
            with self._lock:
                self._pending -= 1
                if self._closed:
                    return
            try:
                on_end(status, "")
            except Exception:  # event-loop boundary: one failed end must not stop the rest
                log.exception("simulated_call_end_failed")

        self._loop.call_later(self.call_seconds, end)
        return Placed()

    def pending(self) -> int:
        """Calls in progress."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        """Calls still pending are abandoned (their leases lapse); a loop of the
        dialer's own is stopped."""
        with self._lock:
            self._closed = True
        if self._own_loop:
            self._loop.stop()
