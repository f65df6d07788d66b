"""The dramatiq actors: the scheduler (``batchdial.pump``) and the dialer (``batchdial.dial``),
on a broker; the outbox that sends their messages is ``config.broker.BrokerOutbox``.

They are registered on a given broker (never on a global one at import time) and do
nothing but call the engine. The dial actor never retries: dramatiq's ``Retries``
middleware (``dramatiq/middleware/retries.py``) would otherwise redeliver a failed
message up to 20 times, while a failed claim leaves the row where the scheduler finds it
again and a call that failed is ended by its lease or the reaper
(:mod:`worker.engine.endings`).
"""

from __future__ import annotations

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker

from config.broker import (
    DIAL_ACTOR,
    DIAL_QUEUE,
    SCHEDULER_ACTOR,
    SCHEDULER_QUEUE,
    WEBHOOK_ACTOR,
    WEBHOOK_QUEUE,
    BrokerOutbox,
)
from worker.engine.core import Engine
from worker.webhooks.delivery import WebhookDelivery

__all__ = ["DIAL_ACTOR", "SCHEDULER_ACTOR", "Actors", "BrokerOutbox"]


class Actors:
    """The actors on one broker, calling one engine."""

    def __init__(
        self, broker: RedisBroker, engine: Engine, webhooks: WebhookDelivery | None = None
    ) -> None:
        def pump(ws_id: str, job_id: str) -> None:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                engine.pump(ws_id, job_id)

        def dial(ws_id: str, job_id: str, index: int) -> None:
            with structlog.contextvars.bound_contextvars(ws_id=ws_id, job_id=job_id):
                engine.dial(ws_id, job_id, index)

        # The scheduler is idempotent: a failed run (Redis away) is retried with backoff.
        self.scheduler = dramatiq.actor(
            broker=broker,
            actor_name=SCHEDULER_ACTOR,
            queue_name=SCHEDULER_QUEUE,
            max_retries=5,
            min_backoff=200,
            max_backoff=5_000,
        )(pump)
        # A dial is never retried by the broker (see the module's docstring).
        self.dial = dramatiq.actor(
            broker=broker,
            actor_name=DIAL_ACTOR,
            queue_name=DIAL_QUEUE,
            max_retries=0,
        )(dial)

        def deliver_webhooks() -> None:
            if webhooks is not None:
                webhooks.run()

        # Idempotent and re-sent every tick: a failed run is not retried by the broker.
        self.webhooks = dramatiq.actor(
            broker=broker,
            actor_name=WEBHOOK_ACTOR,
            queue_name=WEBHOOK_QUEUE,
            max_retries=0,
        )(deliver_webhooks)
