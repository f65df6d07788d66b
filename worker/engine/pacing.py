"""The pacer: rows a claim refused for pacing, tried again when a start conforms.

A claim refused for a dials-per-second limit (``claim.lua`` answers ``paced`` with the
milliseconds until a start conforms) leaves its row released; the row is parked here,
in its job's lane, and claimed again at that time on the dialing threads. No thread
waits and nothing polls: one timer thread sleeps until the first lane is due.

Each lane tries one row at a time, the head: when that claim is paced again the row
goes back to the head with the new wait; otherwise the next row is tried at once. So
a process spends at most one claim per lane for each start the limit allows, however
many rows wait (the rows of a job's cap all wait for the same instant).

A row parked here stays released in Redis; if this process dies, the scheduler takes
it back after ``Timing.stale_release_ms`` like any released row whose message was lost.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

#: What the pacer calls to claim a row again: ``(ws_id, job_id, index)``.
Attempt = Callable[[str, str, int], None]


@dataclass
class _Lane:
    rows: deque[int] = field(default_factory=deque)
    due: float = 0.0  # time.monotonic() at which the head may be tried
    trying: int | None = None  # the row being claimed now (at most one per lane)


class Pacer:
    """Lanes of paced rows, one per job, and the timer thread that tries their heads."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def park(self, ws_id: str, job_id: str, index: int, wait_ms: int) -> None:
        """A claim of row ``index`` was paced: try it again in ``wait_ms``."""
        due = time.monotonic() + wait_ms / 1000
        with self._cond:
            lane = self._lanes.setdefault((ws_id, job_id), _Lane())
            if lane.trying == index:  # the head, paced again: it stays the head
                lane.trying = None
                lane.rows.appendleft(index)
                lane.due = due
            else:
                lane.rows.append(index)
                if lane.trying is None:
                    lane.due = max(lane.due, due)
            self._ensure_thread()
            self._cond.notify()

    def tried(self, ws_id: str, job_id: str, index: int) -> None:
        """The claim of a lane's row ended some other way than paced: next row, now."""
        with self._cond:
            lane = self._lanes.get((ws_id, job_id))
            if lane is None or lane.trying != index:
                return
            lane.trying = None
            lane.due = 0.0
            if not lane.rows:
                del self._lanes[(ws_id, job_id)]
            self._cond.notify()

    def waiting(self) -> int:
        """How many rows wait here (tests, logs)."""
        with self._cond:
            return sum(len(lane.rows) + (lane.trying is not None) for lane in self._lanes.values())

    def take_all(self) -> list[tuple[str, str, int]]:
        """Empty every lane (a draining process hands its rows to the others)."""
        with self._cond:
            rows = [(ws, job, i) for (ws, job), lane in self._lanes.items() for i in lane.rows]
            for lane in self._lanes.values():
                lane.rows.clear()
            return rows

    def close(self) -> None:
        """Stop the timer thread (rows still parked are recovered as stale releases)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="batchdial-pacer", daemon=True)
            self._thread.start()

    def _next_due(self, now: float) -> tuple[list[tuple[str, str, int]], float | None]:
        """Heads due now (marked as being tried) and when the next one is due."""
        due: list[tuple[str, str, int]] = []
        soonest: float | None = None
        for (ws_id, job_id), lane in self._lanes.items():
            if lane.trying is not None or not lane.rows:
                continue
            if lane.due <= now:
                lane.trying = lane.rows.popleft()
                due.append((ws_id, job_id, lane.trying))
            elif soonest is None or lane.due < soonest:
                soonest = lane.due
        return due, soonest

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                due, soonest = self._next_due(time.monotonic())
                if not due:
                    timeout = None if soonest is None else max(0.0, soonest - time.monotonic())
                    self._cond.wait(timeout)
                    continue
            for ws_id, job_id, index in due:
                try:
                    self._attempt(ws_id, job_id, index)
                except Exception:  # timer-thread boundary: the lane must go on
                    log.exception("pacer_attempt_failed", job_id=job_id, index=index)
                    self.tried(ws_id, job_id, index)
