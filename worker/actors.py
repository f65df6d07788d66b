"""The dramatiq actors: the scheduler (``batchdial.pump``) and the dialer (``batchdial.dial``).

They are registered on a given broker (never on a global one at import time) and do
nothing but call the engine; see DESIGN.md for why the dial actor never retries.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker

from config.broker import DIAL_QUEUE, PUMP_QUEUE
from worker.engine import Engine

PUMP_ACTOR = "batchdial.pump"
DIAL_ACTOR = "batchdial.dial"


class Actors:
    """The actors on one broker; also the engine's outbox (how it sends messages)."""

    def __init__(self, broker: RedisBroker, engine: Callable[[], Engine]) -> None:
        def pump(ws_id: str, job_id: str) -> None:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                engine().pump(ws_id, job_id)

        def dial(ws_id: str, job_id: str, index: int) -> None:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                engine().dial(ws_id, job_id, index)

        # The pump is idempotent: a failed run (Redis away) is retried with backoff.
        self.pump = dramatiq.actor(
            broker=broker,
            actor_name=PUMP_ACTOR,
            queue_name=PUMP_QUEUE,
            max_retries=5,
            min_backoff=200,
            max_backoff=5_000,
        )(pump)
        # A dial is never retried by the broker: a failed claim leaves the row where the
        # pump finds it again, and a failed call is ended by its lease or the reaper.
        self.dial = dramatiq.actor(
            broker=broker,
            actor_name=DIAL_ACTOR,
            queue_name=DIAL_QUEUE,
            max_retries=0,
        )(dial)

    def send_pump(self, ws_id: str, job_id: str) -> None:
        """Ask for one run of the job's pump."""
        self.pump.send(ws_id, job_id)

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        """Ask for one dial of a released row."""
        self.dial.send(ws_id, job_id, index)
