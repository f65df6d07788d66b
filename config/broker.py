"""The dramatiq Redis broker under the batchdial namespace, and the outbox that sends
the actors' messages on it (workers and the API alike: the API sends the dial messages
of the rows a provider's callback released, SPEC §6)."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.broker import Consumer
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from domain.keys import DIAL_QUEUE, SCHEDULER_QUEUE, Keys

__all__ = [
    "DIAL_ACTOR",
    "DIAL_POLL_MS",
    "DIAL_QUEUE",
    "SCHEDULER_ACTOR",
    "SCHEDULER_QUEUE",
    "BrokerOutbox",
    "make_broker",
]

#: The scheduler actor's name ("pump": what deploy/ and the dashboards know it by).
SCHEDULER_ACTOR = "batchdial.pump"
DIAL_ACTOR = "batchdial.dial"
#: The longest an idle worker waits between two looks at the dial queue (ms). dramatiq
#: backs off up to its worker timeout (``RedisConsumer.__next__``: 50-100 % of it once
#: idle); a row released into a freed slot waits that long for a worker, so the dial
#: queue is looked at more often than the others.
DIAL_POLL_MS = 16


class BatchdialBroker(RedisBroker):
    """dramatiq's Redis broker, polling the dial queue more often when idle."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """A consumer of ``queue_name``; the dial queue's idle wait is capped at
        :data:`DIAL_POLL_MS`."""
        if queue_name == DIAL_QUEUE:
            timeout = min(timeout, DIAL_POLL_MS)
        return super().consume(queue_name, prefetch, timeout)


def make_broker(client: redis.Redis, namespace: str) -> RedisBroker:
    """A Redis broker whose keys and queues live under ``<namespace>:dramatiq``.

    ``client`` must not decode responses (dramatiq reads bytes). Our actors take
    their own retries decisions, so Retries is kept only for the scheduler (see the
    actors); TimeLimit bounds a stuck actor; no Prometheus middleware here (the
    worker adds metrics of its own).
    """
    return BatchdialBroker(  # type: ignore[no-untyped-call]
        client=client,
        namespace=Keys(namespace).broker_namespace,
        middleware=[
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(),
        ],
    )


class BrokerOutbox:
    """The engine's outbox over a broker: messages to the actors, by their names."""

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    def send_pump(self, ws_id: str, job_id: str) -> None:
        """Ask for one run of the job's scheduler."""
        self._send(SCHEDULER_QUEUE, SCHEDULER_ACTOR, (ws_id, job_id))

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        """Ask for one dial of a released row."""
        self._send(DIAL_QUEUE, DIAL_ACTOR, (ws_id, job_id, index))

    def _send(self, queue_name: str, actor_name: str, args: tuple[object, ...]) -> None:
        # What Actor.send builds (dramatiq/actor.py, message_with_options), without
        # needing the actor object: the engine (and the API) exist without the actors.
        message = dramatiq.Message(  # type: ignore[var-annotated]
            queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
        )
        self._broker.enqueue(message)
