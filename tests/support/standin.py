"""A stand-in provider for the http dialer that counts calls open at each instant, in
one of three styles: it holds each dial request open for the whole call (``hold``),
accepts at once and reports the end by a signed status callback (``callback``), or
never answers (``never``); plus the set-up the tests of asynchronous dialing share."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

import httpx

from domain.signing import SIGNATURE_HEADER, sign
from tests.support.bodies import job_body
from tests.support.http import read_all
from tests.support.loopback import answer_json, serve_http
from tests.support.procs import env_for
from tests.support.provider import SECRET
from tests.support.redis_server import REDIS_URL
from tests.support.waits import wait_for

#: The header the http dialer names the placing worker process in.
WORKER_HEADER = "X-Batchdial-Worker"

Mode = Literal["hold", "callback", "never"]


class StandIn:
    """A stand-in provider. ``hold``: answers each dial request only when the call ends
    (with its final status); ``callback``: answers at once and reports the end by the
    signed status callback; ``never``: holds the request and never answers.

    It records when each dial request arrived and each call ended (monotonic seconds),
    how many calls are open at once, and which worker process placed each call.
    """

    def __init__(self, mode: Mode, call_seconds: float) -> None:
        self.mode = mode
        self.call_seconds = call_seconds
        self.api_base = ""
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.ends: list[float] = []
        self.keys: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.by_worker: Counter[str] = Counter()
        self.open = 0
        self.peak = 0
        self.errors: list[str] = []
        #: Seconds each status callback took the API to answer.
        self.callback_s: list[float] = []
        self.closing = threading.Event()
        self.client = httpx.Client(timeout=10)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        body = json.loads(handler.rfile.read(length))
        key = handler.headers.get("Idempotency-Key") or ""
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.keys[key] += 1
            first = self.keys[key] == 1
            if first:
                self.rows[body["rowId"]] += 1
                self.by_worker[handler.headers.get(WORKER_HEADER) or "?"] += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
        if self.mode == "never":
            self.closing.wait()  # the provider never answers (until the test ends)
            handler.close_connection = True
            return
        if self.mode == "hold":
            self.closing.wait(self.hold_s(body))  # the call lasts this long
            self._ended()
            answer_json(handler, 200, {"status": "completed"})
            return
        answer_json(handler, 200, {})
        timer = threading.Timer(self.call_seconds, self._report_end, args=(body["dialId"],))
        timer.daemon = True
        timer.start()

    def hold_s(self, body: dict[str, Any]) -> float:
        """How long the call of ``body`` lasts (in ``hold`` mode)."""
        return self.call_seconds

    def _ended(self) -> None:
        with self.lock:
            self.open -= 1
            self.ends.append(time.monotonic())

    def _report_end(self, dial_id: str) -> None:
        self._ended()
        payload = json.dumps({"status": "completed"}).encode()
        sent = time.monotonic()
        try:
            answer = self.client.post(
                f"{self.api_base}/api/dials/{dial_id}/status",
                content=payload,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(SECRET, dial_id, payload),
                },
            )
            self.callback_s.append(time.monotonic() - sent)
            if answer.status_code != 200:
                self.errors.append(f"{answer.status_code} {answer.text[:200]}")
        except httpx.HTTPError as exc:
            self.errors.append(repr(exc))

    def refills_ms(self, cap: int) -> list[float]:
        """For each call's end (in order), the wait until the next dial request beyond
        the first ``cap`` arrived: how long the freed slot stayed empty."""
        with self.lock:
            ends, arrivals = sorted(self.ends), sorted(self.arrivals)
        later = arrivals[cap:]
        return [(a - e) * 1000 for e, a in zip(ends, later, strict=False)]


@contextmanager
def serve(stand_in: StandIn) -> Iterator[str]:
    """Serve ``stand_in`` on a free loopback port (hundreds of requests open at once);
    yields the dial URL."""

    def handle(handler: BaseHTTPRequestHandler, method: str) -> None:
        if method != "POST":
            answer_json(handler, 405, {})
            return
        stand_in.handle(handler)

    with serve_http(handle, backlog=1024) as base:
        try:
            yield f"{base}/dial"
        finally:
            stand_in.closing.set()
            stand_in.client.close()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def env_of(namespace: str, dial_url: str, **extra: str) -> dict[str, str]:
    return env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_DIALER="http",
        BATCHDIAL_DIALER_URL=dial_url,
        BATCHDIAL_DIALER_SECRET=SECRET,
        BATCHDIAL_LOG_LEVEL="WARNING",
        **extra,
    )


def start_job(http: httpx.Client, ws: dict[str, Any], rows: int, cap: int) -> str:
    job = http.post(
        "/api/batch_dial_jobs", json=job_body(ws, rows, cap, every_number=True, schedule=None)
    ).json()
    url = f"/api/batch_dial_jobs/{job['id']}"
    assert http.post(f"{url}/paused", json={"paused": False}).status_code == 200
    return url


def wait_complete(http: httpx.Client, url: str, timeout: float) -> None:
    wait_for(lambda: http.get(url).json()["status"] == "COMPLETE", timeout, "COMPLETE")


def check_once(stand_in: StandIn, http: httpx.Client, url: str, rows: int) -> None:
    """Every row dialed once, under one key; every dial completed."""
    assert len(stand_in.rows) == rows and set(stand_in.rows.values()) == {1}
    assert set(stand_in.keys.values()) == {1}
    dials = read_all(http, f"{url}/dials")
    assert len(dials) == rows and {d["status"] for d in dials} == {"completed"}
