"""The stand-in provider of benchmark 7 (bench/provider.py): the tests' stand-in
(``tests/support/standin.py``), switchable between runs, with callback senders that
keep their connections, and the refill arithmetic."""

from __future__ import annotations

import heapq
import http.client
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import urlsplit

from bench.common import percentile, utilisation
from domain.signing import SIGNATURE_HEADER, sign
from tests.support.provider import SECRET
from tests.support.standin import WORKER_HEADER, StandIn

Style = Literal["callback", "hold"]
#: Threads of the stand-in that send status callbacks.
SENDERS = 32


class BenchStandIn(StandIn):
    """The tests' stand-in provider, switchable between runs (style, call length), that
    also keeps when each call opened (first request of its idempotency key)."""

    def __init__(self) -> None:
        super().__init__("callback", 1.0)
        self.opened: list[float] = []
        self._due: list[tuple[float, str]] = []
        self._due_cond = threading.Condition()
        self._outbox: queue.Queue[str | None] = queue.Queue()

    def reset(self, mode: Style, call_seconds: float) -> None:
        """A fresh run: new style and call length, counters cleared."""
        with self.lock:
            self.mode, self.call_seconds = mode, call_seconds
            self.arrivals.clear()
            self.ends.clear()
            self.opened.clear()
            self.keys.clear()
            self.rows.clear()
            self.by_worker.clear()
            self.errors.clear()
            self.callback_s.clear()
            self.open = self.peak = 0

    def start_senders(self) -> None:
        """The call timers (one thread, a heap of due ends) and the callback senders
        (``SENDERS`` threads, each with a kept-alive client of its own): a thread and a
        client per call, as the tests' stand-in does, cost the benchmark's process more
        CPU than the system measured, at hundreds of calls a second."""
        for target in (self._timers, *([self._sender] * SENDERS)):
            threading.Thread(target=target, daemon=True).start()

    def _timers(self) -> None:
        while not self.closing.is_set():
            with self._due_cond:
                while not self._due and not self.closing.is_set():
                    self._due_cond.wait(0.5)
                if self.closing.is_set():
                    return
                due, dial_id = self._due[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._due_cond.wait(wait)
                    continue
                heapq.heappop(self._due)
            self._ended()  # the call ends now; its callback is sent by a sender
            self._outbox.put(dial_id)

    def _sender(self) -> None:
        """One sender: callbacks over one kept connection (the standard library's
        http.client: a tenth of httpx's CPU per request, and the stand-in's CPU is the
        carrier's, not batchdial's, though it shares this machine)."""
        origin = urlsplit(self.api_base)
        conn = http.client.HTTPConnection(origin.hostname or "", origin.port, timeout=10)
        try:
            while True:
                dial_id = self._outbox.get()
                if dial_id is None:
                    return
                conn = self._send_end(conn, dial_id)
        finally:
            conn.close()

    def _send_end(
        self, conn: http.client.HTTPConnection, dial_id: str, *, again: bool = True
    ) -> http.client.HTTPConnection:
        payload = json.dumps({"status": "completed"}).encode()
        sent = time.monotonic()
        try:
            conn.request(
                "POST",
                f"/api/dials/{dial_id}/status",
                body=payload,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(SECRET, dial_id, payload),
                },
            )
            answer = conn.getresponse()
            text = answer.read()
            self.callback_s.append(time.monotonic() - sent)
            if answer.status != 200:
                self.errors.append(f"{answer.status} {text[:200]!r}")
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # a kept connection the API closed: once more on a new one
            if not again:
                self.errors.append(repr(exc))
                return conn
            return self._send_end(conn, dial_id, again=False)
        return conn

    def stop_senders(self) -> None:
        """Stop the timer and sender threads."""
        self.closing.set()
        with self._due_cond:
            self._due_cond.notify_all()
        for _ in range(SENDERS):
            self._outbox.put(None)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """As the tests' stand-in, recording the instant a call opens."""
        length = int(handler.headers.get("content-length", "0"))
        raw = handler.rfile.read(length)
        body = json.loads(raw)
        key = handler.headers.get("Idempotency-Key") or ""
        now = time.monotonic()
        with self.lock:
            self.arrivals.append(now)
            self.keys[key] += 1
            if self.keys[key] == 1:
                self.opened.append(now)
                self.rows[body["rowId"]] += 1
                self.by_worker[handler.headers.get(WORKER_HEADER) or "?"] += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
        if self.mode == "hold":
            self.closing.wait(self.call_seconds)
            self._ended()
            _answer(handler, {"status": "completed"})
            return
        _answer(handler, {})
        with self._due_cond:
            heapq.heappush(self._due, (time.monotonic() + self.call_seconds, body["dialId"]))
            self._due_cond.notify()

    def figures(self, cap: int) -> dict[str, float]:
        """Utilisation, peak, refill p50/p90, calls and the share of the busiest worker."""
        with self.lock:
            opened, ends = sorted(self.opened), sorted(self.ends)
            by_worker = dict(self.by_worker)
        marks = [(t * 1000, 1) for t in opened] + [(t * 1000, -1) for t in ends]
        marks.sort(key=lambda m: (m[0], m[1]))
        util, peak, span = utilisation(marks, cap)
        refills = refills_ms(ends, opened, cap)
        return {
            "util": util,
            "peak": peak,
            "span": span,
            # The first fill: from the first call opened to the cap-th (seconds).
            "fill": opened[cap - 1] - opened[0] if len(opened) >= cap else float("nan"),
            "n": len(opened),
            "p50": percentile(refills, 50),
            "p90": percentile(refills, 90),
            "top_share": max(by_worker.values()) / len(opened) if opened else float("nan"),
            "workers": len(by_worker),
        }


def refills_ms(ends: list[float], starts: list[float], cap: int) -> list[float]:
    """For each end (seconds, in order), the wait until the next start beyond the first
    ``cap``: how long the freed slot stayed empty (ms)."""
    later = sorted(starts)[cap:]
    return [(a - e) * 1000 for e, a in zip(sorted(ends), later, strict=False)]


def _answer(handler: BaseHTTPRequestHandler, body: dict[str, object]) -> None:
    data = json.dumps(body).encode()
    try:
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass  # the worker went away
