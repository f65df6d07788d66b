"""The refill taker: each worker process waits on the refill list and dials the rows a
carrier's callback released, the moment the API pushes them.

A carrier reports a call's end to the API (``POST /api/dials/{id}/status``); the script
that records the end also releases rows into the freed slot and pushes them onto the
refill list (``ns:refills``, ``"<ws>|<job>|<row>"``, ``finish_dial.lua``). Every worker
process that consumes dials has one thread blocked on that list (BLPOP: Redis hands
each item to one waiter, the longest waiting first, so idle workers take turns); it
takes what is there (up to 1 + :data:`TAKE_AT_MOST` items at once) and dials each job's
rows itself, one after another (``Engine.dial_rows``; a hop to a continuation thread
added a wake-up to each refill: refill p50 8.4 -> 7.3 ms, p90 40 -> 32 ms in bench 7's
callback style at cap 200, 6 runs each), handing the rows over the process's fair share,
and all of them while it drains, to the broker. What is pushed while it dials waits for
it or goes to another worker's taker.

Why not a dramatiq message per row (as before 2026-12-03): a message costs a worker a
fetch, a decode, the middleware, an ack and a hop to a worker thread, about half of a
call's worker CPU; when a wave of calls ended together at cap 200, the refills queued
behind those and utilisation fell (bench/RESULTS.md, 2026-12-03).

What a lost item costs: an item is taken once. A worker killed between taking a row and
claiming it leaves the row released and undialed; the scheduler sends rows released
longer than ``Timing.stale_release_ms`` (15 s) again as dial messages, and a row is
claimed at most once whichever message comes first (``claim.lua``). An item for a row
already claimed, or for a job gone or paused, is refused by the claim and dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis
import structlog

from domain.keys import Keys

log = structlog.get_logger(__name__)

#: Items taken at once after the one a BLPOP gave: a burst's rows are dialed together; a
#: few at a time keep the rest of a burst for the other workers.
TAKE_AT_MOST = 16
#: The longest wait on the list (s): how long a stop may take to be seen.
WAIT_S = 1.0
#: The pause after Redis failed to answer (s).
RETRY_S = 0.25

Dial = Callable[[str, str, list[int]], None]


def parse_items(items: list[str | bytes]) -> dict[tuple[str, str], list[int]]:
    """``"<ws>|<job>|<row>"`` items -> the rows of each job, in order; malformed items
    are logged and skipped."""
    rows: dict[tuple[str, str], list[int]] = {}
    for raw in items:
        item = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        ws_id, _, rest = item.partition("|")
        job_id, _, index = rest.partition("|")
        if not (ws_id and job_id and index.isdigit()):
            log.warning("refill_item_malformed", item=item[:200])
            continue
        rows.setdefault((ws_id, job_id), []).append(int(index))
    return rows


class RefillTaker:
    """One thread that takes refill items and dials them until stopped."""

    def __init__(self, client: redis.Redis, keys: Keys, dial: Dial) -> None:
        self._r = client
        self._list = keys.ns_key("K_REFILLS")
        self._dial = dial
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the taking thread."""
        self._thread = threading.Thread(target=self._run, name="batchdial-refills", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = WAIT_S + 1.0) -> None:
        """Take nothing more; items still listed are left for the other workers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def take_once(self, wait_s: float = WAIT_S) -> int:
        """Wait up to ``wait_s`` for items, dial what was taken; returns how many items."""
        got = self._r.blpop([self._list], timeout=wait_s)
        if got is None:
            return 0
        items = [got[1], *(self._r.lpop(self._list, TAKE_AT_MOST) or [])]
        for (ws_id, job_id), indexes in parse_items(items).items():
            self._dial(ws_id, job_id, indexes)
        return len(items)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.take_once()
            except redis.RedisError as exc:
                log.warning("refills_unavailable", error=str(exc))
                self._stop.wait(RETRY_S)
            except Exception:  # thread boundary: the taker must keep taking
                log.exception("refills_failed")
                self._stop.wait(RETRY_S)
