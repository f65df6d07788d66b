"""Webhook attempts: due deliveries taken under a lease, POSTed on the process's event
loop, and their answers recorded (``wh_take.lua``, ``wh_record.lua``).

- :meth:`WebhookDelivery.tick` (the timers thread of every worker): at most one
  ``batchdial.webhooks`` message per tick across all workers (a ``SET NX PX`` lock).
- :meth:`WebhookDelivery.run` (that actor, on a dramatiq thread): fans out every
  workspace's outbox (:mod:`.fanout`), takes due deliveries of the endpoints due first
  (each endpoint has its own queue, so one endpoint's backlog never hides another's)
  and hands each attempt to the event loop without waiting, so no thread waits on a
  customer's server.
- One worker at a time holds an endpoint (``wh_take.lua``: taken with its deliveries,
  renewed by each answer, freed once this worker has sent them all, lapsing if it
  dies); on the loop, its attempts go one at a time, in the order taken (so a job's
  events arrive in order while they succeed), while endpoints run side by side:
  a slow or dead endpoint delays only itself, never dialing (which never waits on
  this) nor the other endpoints. Each attempt re-checks the destination's addresses
  (DNS rebinding), then POSTs with the Standard Webhooks headers to the address it
  checked (``worker/http1.py``'s ``connect_to``: Host, SNI and the certificate check
  keep the name; timeout 10 s, no redirects followed: a redirect could point
  anywhere). Its answer is recorded on a thread (Redis is never called on the loop).

A worker that dies mid-attempt loses nothing: the delivery's lease lapses and it is
attempted again, with the same ``webhook-id`` (at least once).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import redis
import structlog

from domain.keys import Keys
from domain.metrics import WEBHOOK_ATTEMPT_DURATION, WEBHOOK_DELIVERIES
from domain.protocol import WebhookOutcome, parse_wh_free, parse_wh_record, parse_wh_take
from domain.scripts import Scripts
from domain.webhooks.signing import headers
from worker.engine.loop import EventLoop
from worker.http1 import Http1Client, HttpError, Timeout
from worker.webhooks.fanout import Fanout
from worker.webhooks.pinning import checked_address

log = structlog.get_logger(__name__)

DAY_MS = 86_400_000
#: Endpoints looked at per take (those due first), and deliveries taken per endpoint.
ENDPOINTS_PER_TAKE = 200
PER_ENDPOINT_TAKE = 100


#: The most of an answer's body read (to keep its connection); past it the connection is
#: closed and the rest never read (only the status counts).
MAX_ANSWER_BYTES = 65_536


def endpoint_of(delivery_id: str) -> str:
    """The endpoint id inside a delivery id (``msg_<event>_<endpoint id>``)."""
    return delivery_id.partition("_")[2].partition("_")[2]


@dataclass(frozen=True, slots=True)
class WebhookTiming:
    """The delivery's numbers (settings: BATCHDIAL_WEBHOOK_RETRY_SECONDS, ..._TIMEOUT_SECONDS)."""

    retry_s: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    timeout_s: float = 10.0
    #: How long a taken delivery is someone's before it comes due again.
    lease_ms: int = 30_000
    tick_ms: int = 200
    disable_after_ms: int = 5 * DAY_MS
    attempts_kept: int = 10_000
    #: How long a failed delivery (body included) is kept for a manual retry; a
    #: delivered one only a day (its attempts stay in the endpoint's attempt list).
    retention_s: int = 7 * 86_400
    delivered_retention_s: int = 86_400
    max_in_flight: int = 2_000
    #: Dialing first: while dial messages wait on the broker (every dial thread busy),
    #: a run on a process that also dials fans out and starts at most this many.
    busy_batch: int = 10
    busy_hold_ms: int = 1_000


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt to make: the delivery and where it goes."""

    ws_id: str
    delivery_id: str
    endpoint_id: str
    url: str
    secret: str
    body: str


class WebhookDelivery:
    """Takes due deliveries and attempts them on the event loop."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        loop: EventLoop,
        send_run: Callable[[], None],
        timing: WebhookTiming | None = None,
        *,
        allow_private: bool = False,
        http: Http1Client | None = None,
        dialing_first: bool = False,
    ) -> None:
        self._r = client
        self._k = keys
        self._loop = loop
        self._send_run = send_run
        self.timing = timing or WebhookTiming()
        self.allow_private = allow_private
        self.dialing_first = dialing_first
        self.fanout = Fanout(client, keys)
        self._scripts = Scripts(client, "engine")
        # No redirect is followed: a 3xx is an answer, not delivered.
        self._http = http or Http1Client(
            self.timing.timeout_s, max_body=MAX_ANSWER_BYTES, cut_long=True
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_flight: set[str] = set()
        #: (workspace, endpoint) -> attempts of this process not yet recorded.
        self._per_endpoint: dict[tuple[str, str], int] = {}
        self._guard = threading.Lock()
        # Recording an answer calls Redis: on threads of its own, never on the loop.
        self._recorders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="batchdial-wh")

    def tick(self) -> None:
        """Ask for one run of the delivery actor, unless some worker did this tick or no
        workspace ever had an endpoint (then the broker sees no webhook message at all)."""
        if not self._r.set(self._k.ns_key("K_WH_TICK"), "1", nx=True, px=self.timing.tick_ms):
            return
        if self._r.exists(self._k.ns_key("K_WH_WS")):
            self._send_run()

    def in_flight(self) -> int:
        """Attempts of this process not yet recorded."""
        with self._guard:
            return len(self._in_flight)

    def busy(self) -> bool:
        """Whether this process dials and dial messages wait on the broker (every dial
        consumer's threads taken: the CPU is the dials') or rows on the refill list, or
        did within ``busy_hold_ms`` as any worker saw it: a queue emptied for an instant
        between two bursts does not let a full run (thousands of attempts) in between
        (dialing first)."""
        if not self.dialing_first:
            return False
        mark = self._k.ns_key("K_WH_DIALING")
        with self._r.pipeline(transaction=False) as pipe:
            pipe.llen(self._k.dial_queue)
            pipe.llen(self._k.ns_key("K_REFILLS"))
            pipe.exists(mark)
            waiting, refills, marked = pipe.execute()
        if int(waiting) + int(refills) > 0:
            self._r.set(mark, "1", px=self.timing.busy_hold_ms)
            return True
        return bool(marked)

    def run(self) -> int:
        """Fan out every workspace's outbox, then start the due attempts; returns how
        many were started. While :meth:`busy`, a trickle only (``busy_batch``): the
        rest waits in the outbox and the queues until the dials leave CPU to spare."""
        busy = self.busy()
        self._fan_out(busy)
        room = self.timing.max_in_flight - self.in_flight()
        if busy:
            room = min(room, self.timing.busy_batch)
        if room <= 0:
            return 0
        taken = self._take(room)
        if not taken:
            return 0
        endpoints: dict[str, dict[str, Any]] = {}
        with self._r.pipeline(transaction=False) as pipe:
            for ws_id, did in taken:
                pipe.hgetall(self._k.ws_key(ws_id, "k_wh_dlv", did))
            records: list[dict[str, str]] = pipe.execute()
        started = 0
        sending: set[tuple[str, str]] = set()
        for (ws_id, did), record in zip(taken, records, strict=True):
            if ws_id not in endpoints:
                raw_eps = cast(dict[str, str], self._r.hgetall(self._k.ws_key(ws_id, "K_WH")))
                endpoints[ws_id] = {k: json.loads(v) for k, v in raw_eps.items()}
            ep = endpoints[ws_id].get(record.get("ep", ""))
            if not record or record.get("status") != "pending":
                self.record(ws_id, did, endpoint_of(did), final="not pending")
            elif ep is None or not ep.get("enabled"):
                why = "endpoint deleted" if ep is None else "endpoint disabled"
                self.record(ws_id, did, record["ep"], final=why)
            else:
                attempt = Attempt(ws_id, did, ep["id"], ep["url"], ep["secret"], record["body"])
                with self._guard:
                    if did in self._in_flight:
                        continue
                    self._in_flight.add(did)
                    owner = (ws_id, ep["id"])
                    self._per_endpoint[owner] = self._per_endpoint.get(owner, 0) + 1
                self._loop.submit(self._attempt(attempt))
                started += 1
                sending.add(owner)
        # The endpoints this run took but sends nothing to (dropped deliveries) are free.
        owners = {(ws_id, endpoint_of(did)) for ws_id, did in taken}
        with self._guard:
            idle = [o for o in owners - sending if not self._per_endpoint.get(o)]
        for ws_id, ep_id in idle:
            self._free(ws_id, ep_id)
        return started

    def _fan_out(self, busy: bool) -> None:
        """Fan out every workspace's outbox; while busy, one small batch of each."""
        for ws_id in self.fanout.workspaces():
            if busy:
                self.fanout.run(ws_id, max_steps=1, batch=self.timing.busy_batch)
            else:
                self.fanout.run(ws_id)

    def _take(self, room: int) -> tuple[tuple[str, str], ...]:
        """Take due deliveries of the endpoints due first (``wh_take.lua``)."""
        due = self._k.ns_key("K_WH_DUE")
        members = [str(m) for m in self._r.zrange(due, 0, ENDPOINTS_PER_TAKE - 1)]
        if not members:
            return ()
        keys = [due, self._k.ns_key("K_WH_BUSY")]
        for member in members:
            ws_id, _, ep_id = member.partition("|")
            keys.append(self._k.ws_key(ws_id, "k_wh_q", ep_id))
        args = [self.timing.lease_ms, min(PER_ENDPOINT_TAKE, room), room, *members]
        return parse_wh_take(self._scripts("wh_take", keys, args))

    def _free(self, ws_id: str, ep_id: str) -> None:
        """Let any worker send to the endpoint again (``wh_free.lua``)."""
        keys = [
            self._k.ns_key("K_WH_DUE"),
            self._k.ns_key("K_WH_BUSY"),
            self._k.ws_key(ws_id, "k_wh_q", ep_id),
        ]
        parse_wh_free(self._scripts("wh_free", keys, [f"{ws_id}|{ep_id}"]))

    def _done(self, a: Attempt) -> None:
        """After an attempt: the endpoint is free for any worker once this one has sent
        everything it took for it."""
        owner = (a.ws_id, a.endpoint_id)
        with self._guard:
            self._in_flight.discard(a.delivery_id)
            left = self._per_endpoint.get(owner, 1) - 1
            if left > 0:
                self._per_endpoint[owner] = left
                return
            self._per_endpoint.pop(owner, None)
        self._free(a.ws_id, a.endpoint_id)

    async def _attempt(self, a: Attempt) -> None:
        lock = self._locks.setdefault(a.endpoint_id, asyncio.Lock())
        try:
            async with lock:
                status, error, started = None, "", time.monotonic()
                problem, address = "", ""
                if not self.allow_private:  # resolved once: the connection goes there
                    problem, address = await checked_address(a.url)
                if problem:
                    error = f"destination refused: {problem}"
                else:
                    status, error = await self._post(a, address or None)
                latency_ms = int((time.monotonic() - started) * 1000)
                ok = status is not None and 200 <= status < 300
                WEBHOOK_ATTEMPT_DURATION.observe(latency_ms / 1000)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    self._recorders,
                    lambda: self.record(a.ws_id, a.delivery_id, a.endpoint_id, ok, status,
                                        latency_ms, error),
                )  # fmt: skip
        except Exception:  # the loop's boundary: the lease brings the delivery back
            log.exception("webhook_attempt_error", delivery_id=a.delivery_id)
        finally:
            try:
                await asyncio.get_running_loop().run_in_executor(self._recorders, self._done, a)
            except Exception:  # stopping: the endpoint's hold lapses by itself
                with self._guard:
                    self._in_flight.discard(a.delivery_id)

    async def _post(self, a: Attempt, address: str | None) -> tuple[int | None, str]:
        """POST the delivery, connecting to ``address`` (the one checked) when given;
        the answer's status, or None and why there was none."""
        sent = headers(a.secret, a.delivery_id, int(time.time()), a.body)
        try:
            # Only the status counts; the little an answer says is read all the same, so
            # that its connection is kept for the next attempt (a new connection, and TLS
            # handshake, per attempt otherwise). The webhook-id header makes a resend on
            # a kept connection the server closed unanswered safe (worker/http1.py).
            answer = await self._http.request(
                "POST",
                a.url,
                body=a.body.encode(),
                headers=sent,
                connect_to=address,
                resend=True,
            )
        except Timeout:
            return None, f"no answer within {self.timing.timeout_s:g} s"
        except HttpError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        code = answer.status
        return code, "" if 200 <= code < 300 else f"HTTP {code}"

    def record(  # noqa: PLR0917 -- one attempt's answer, as the script takes it
        self,
        ws_id: str,
        did: str,
        endpoint_id: str,
        ok: bool = False,
        status: int | None = None,
        latency_ms: int = 0,
        error: str = "",
        *,
        final: str | None = None,
    ) -> WebhookOutcome:
        """Record one attempt's answer (``final``: end the delivery without one)."""
        k, t = self._k, self.timing
        keys = [
            k.ns_key("K_WH_DUE"),
            k.ws_key(ws_id, "k_wh_dlv", did),
            k.ws_key(ws_id, "k_wh_att", endpoint_id),
            k.ws_key(ws_id, "K_WH"),
            k.ws_key(ws_id, "K_WH_FAIL"),
            k.ws_key(ws_id, "K_WH_LOG"),
            k.ws_key(ws_id, "K_WH_OUT"),
            k.ns_key("K_WH_BUSY"),
            k.ws_key(ws_id, "k_wh_q", endpoint_id),
        ]
        args: list[object] = [
            f"{ws_id}|{endpoint_id}",
            did,
            endpoint_id,
            "1" if ok else "0",
            "" if status is None else status,
            latency_ms,
            final or error,
            "1" if final else "0",
            t.disable_after_ms,
            t.attempts_kept,
            t.retention_s,
            t.lease_ms,
            t.delivered_retention_s,
            *t.retry_s,
        ]
        outcome = parse_wh_record(self._scripts("wh_record", keys, args))
        if outcome in ("delivered", "retrying", "failed"):
            WEBHOOK_DELIVERIES.labels(outcome).inc()
        return outcome

    def close(self) -> None:
        """Stop recording threads and close the HTTP client's kept connections."""
        self._recorders.shutdown(wait=True, cancel_futures=False)
        self._http.close()
