"""The engine in one process, for tests: dialers that count, hang or follow a script,
an outbox that records, a rig of a producer and worker runtimes on one namespace, and
a job with one live dial."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import redis

from config.redis import make_redis
from config.settings import load_settings
from domain.pagination import collect
from producer.service import Producer
from producer.validation import Limits
from tests.support.bodies import job_body
from tests.support.redis_server import sem_members
from tests.support.waits import wait_for
from worker.dialers.base import Dialer, DialRequest, OnEnd, Placed
from worker.dialers.simulated import SimulatedDialer
from worker.engine.core import Engine
from worker.engine.timing import Timing
from worker.runtime import ALL_QUEUES, WorkerRuntime, build_runtime


class CountingDialer:
    """A simulated dialer that counts simultaneous calls, overall and per caller id."""

    def __init__(self, call_seconds: float, outcome: str = "completed") -> None:
        self.inner = SimulatedDialer(call_seconds, {outcome: 1.0})
        self.lock = threading.Lock()
        self.live = 0
        self.peak = 0
        self.live_by_number: Counter[str] = Counter()
        self.peak_by_number: Counter[str] = Counter()
        self.requests: list[DialRequest] = []

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        with self.lock:
            self.requests.append(request)
            self.live += 1
            self.peak = max(self.peak, self.live)
            self.live_by_number[request.from_number] += 1
            n = self.live_by_number[request.from_number]
            self.peak_by_number[request.from_number] = max(
                self.peak_by_number[request.from_number], n
            )

        def ended(status: str, reason: str) -> None:
            self._down(request)
            on_end(status, reason)

        placed = self.inner.place(request, ended)
        if placed.status is not None:
            self._down(request)
        return placed

    def _down(self, request: DialRequest) -> None:
        with self.lock:
            self.live -= 1
            self.live_by_number[request.from_number] -= 1

    def close(self) -> None:
        self.inner.close()


class HangingDialer:
    """A dialer whose calls never end (the provider never answers back)."""

    def __init__(self, handoff: bool = False) -> None:
        self.handoff = handoff
        self.requests: list[DialRequest] = []

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        self.requests.append(request)
        return Placed(handoff=self.handoff)

    def close(self) -> None:
        pass


class ScriptedDialer:
    """Zero-length calls whose outcome is scripted per number and attempt."""

    def __init__(self, outcomes: dict[str, list[str]], default: str = "completed") -> None:
        self.outcomes = outcomes
        self.default = default
        self.lock = threading.Lock()
        self.requests: list[DialRequest] = []

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        with self.lock:
            self.requests.append(request)
        script = self.outcomes.get(request.to_number, [])
        status = script[request.attempt - 1] if request.attempt <= len(script) else self.default
        return Placed(status=status)

    def numbers(self) -> Counter[str]:
        """How many times each number was dialed."""
        with self.lock:
            return Counter(r.to_number for r in self.requests)

    def close(self) -> None:
        pass


class RecordingOutbox:
    """An outbox that records the engine's messages instead of sending them: the tests
    drive the engine by hand."""

    def __init__(self) -> None:
        self.dials: list[tuple[str, str, int]] = []
        self.pumps: list[tuple[str, str]] = []

    def send_pump(self, ws_id: str, job_id: str) -> None:
        self.pumps.append((ws_id, job_id))

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        self.dials.append((ws_id, job_id, index))

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        self.dials.extend((ws_id, job_id, index) for index in indexes)


#: The pool of a rig's workspaces.
RIG_NUMBERS = ("+12125550100", "+13125550100", "+14155550100")


class Rig:
    """A producer and a worker runtime sharing one Redis namespace."""

    def __init__(self, client: redis.Redis, broker_client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.broker_client = broker_client
        self.namespace = namespace
        self.producer = Producer(client, namespace, Limits(max_rows=5000))
        self.runtimes: list[WorkerRuntime] = []

    def workspace(
        self,
        dial_limit: int = 10,
        per_number: int | None = None,
        numbers: tuple[str, ...] = RIG_NUMBERS,
    ) -> dict[str, Any]:
        """A workspace of the rig's namespace (the :data:`RIG_NUMBERS` pool by default)."""
        return self.producer.workspaces.create("ws", dial_limit, list(numbers), per_number)

    def job(
        self, ws: dict[str, Any], rows: int | list[dict[str, Any]], cap: int, **extra: Any
    ) -> str:
        """Create a job of ``ws`` dialing from its whole pool at any time; its id."""
        body = job_body(ws, rows, cap, every_number=True, schedule=None)
        body.update(extra)
        return str(self.producer.create_job(ws["workspaceId"], body)["id"])

    def worker(
        self,
        dialer: Dialer,
        threads: int = 8,
        timing: Timing | None = None,
        queues: tuple[str, ...] = ALL_QUEUES,
    ) -> WorkerRuntime:
        """Start a worker runtime (real dramatiq threads) on the rig's namespace,
        consuming ``queues``."""
        settings = load_settings(redis_url="redis://127.0.0.1:6379/0", namespace=self.namespace)
        runtime = build_runtime(
            settings,
            threads=threads,
            queues=queues,
            state_client=self.client,
            broker_client=self.broker_client,
            dialer=dialer,
            timing=timing or Timing(lease_ms=5_000, recheck_ms=1_000),
        )
        runtime.start()
        self.runtimes.append(runtime)
        return runtime

    def engine(self, dialer: Dialer, timing: Timing) -> tuple[Engine, RecordingOutbox]:
        """An engine to drive by hand, and the outbox that records what it sends."""
        outbox = RecordingOutbox()
        return Engine(self.client, self.producer.keys, dialer, outbox, timing), outbox

    def status(self, ws: dict[str, Any], job_id: str) -> str:
        return str(self.producer.get_job(ws["workspaceId"], job_id)["status"])

    def events(self, ws: dict[str, Any], job_id: str) -> list[dict[str, Any]]:
        return collect(lambda **kw: self.producer.events(ws["workspaceId"], job_id, **kw))

    def dials(self, ws: dict[str, Any], job_id: str) -> list[dict[str, Any]]:
        return collect(lambda **kw: self.producer.dials(ws["workspaceId"], job_id, **kw))

    def start(self, ws: dict[str, Any], job_id: str) -> None:
        self.producer.set_paused(ws["workspaceId"], job_id, False)

    def wait_status(
        self, ws: dict[str, Any], job_id: str, status: str, timeout: float = 30
    ) -> None:
        wait_for(lambda: self.status(ws, job_id) == status, timeout, f"job {status}")

    def leases_left(self) -> int:
        return sem_members(self.client, self.namespace)


def rig_on(client: redis.Redis, url: str, namespace: str) -> Iterator[Rig]:
    """A :class:`Rig` on ``client``; its runtimes are stopped afterwards."""
    built = Rig(client, make_redis(url, decode=False), namespace)
    yield built
    for runtime in built.runtimes:
        runtime.stop(grace_s=2)
    built.broker_client.close()


def start_one_dial(
    client: redis.Redis, producer: Producer, ws: dict[str, Any], rows: int = 3
) -> dict[str, Any]:
    """An ACTIVE job of ``ws`` with one live dial handed to a provider; ids of both."""
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=rows, schedule=None))
    producer.set_paused(ws["workspaceId"], job["id"], False)
    dialer = HangingDialer(handoff=True)
    engine = Engine(client, producer.keys, dialer, RecordingOutbox(), Timing())
    engine.pump(ws["workspaceId"], job["id"])
    assert engine.dial(ws["workspaceId"], job["id"], 0) == "ok"
    return {"job_id": job["id"], "dial_id": dialer.requests[0].dial_id}
