"""The simulated dialer: no network; calls last a set time and end with a weighted
random outcome. Calls in progress live on one timer thread, not on worker threads."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Mapping

import structlog

from worker.dialers.base import DialRequest, OnEnd, Placed

log = structlog.get_logger(__name__)


class SimulatedDialer:
    """Ends each call after ``call_seconds`` with an outcome drawn from ``weights``."""

    def __init__(
        self, call_seconds: float, weights: Mapping[str, float], seed: int | None = None
    ) -> None:
        self.call_seconds = call_seconds
        self._outcomes = list(weights)
        self._weights = [weights[o] for o in self._outcomes]
        self._random = random.Random(seed)  # noqa: S311 -- a simulation, not security
        self._heap: list[tuple[float, int, str, OnEnd]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def outcome(self) -> str:
        """One outcome drawn from the weights."""
        with self._cond:
            return self._random.choices(self._outcomes, self._weights)[0]

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        """End at once for zero-length calls; otherwise end on the timer thread."""
        status = self.outcome()
        if self.call_seconds <= 0:
            return Placed(status=status)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="batchdial-simulated-calls", daemon=True
                )
                self._thread.start()
            due = time.monotonic() + self.call_seconds
            heapq.heappush(self._heap, (due, next(self._seq), status, on_end))
            self._cond.notify()
        return Placed()

    def pending(self) -> int:
        """Calls in progress."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._closed:
                    return
                _, _, status, on_end = heapq.heappop(self._heap)
            try:
                on_end(status, "")
            except Exception:  # worker-loop boundary: one failed end must not stop the rest
                log.exception("simulated_call_end_failed")

    def close(self) -> None:
        """Stop the timer thread; calls still pending are abandoned (their leases lapse)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
