"""The dramatiq Redis broker under the batchdial namespace, and the outbox that sends
the actors' messages on it (workers and the API alike: the API sends the dial messages
of the rows a provider's callback released, SPEC §6)."""

from __future__ import annotations

import time

import dramatiq
import dramatiq.worker
import redis
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
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
    "DIAL_BUSY_S",
    "DIAL_POLL_MS",
    "DIAL_QUEUE",
    "SCHEDULER_ACTOR",
    "SCHEDULER_QUEUE",
    "WEBHOOK_ACTOR",
    "WEBHOOK_QUEUE",
    "BrokerOutbox",
    "make_broker",
]

#: The scheduler actor's name ("pump": what deploy/ and the dashboards know it by).
SCHEDULER_ACTOR = "batchdial.pump"
DIAL_ACTOR = "batchdial.dial"
#: The webhook delivery actor and its queue (issue 16): workers only, never the API.
WEBHOOK_ACTOR = "batchdial.webhooks"
WEBHOOK_QUEUE = "webhooks"
#: The longest a worker waits between two looks at an empty dial queue (ms) while its
#: dials are busy. dramatiq backs off up to its worker timeout once a queue is empty
#: (``_RedisConsumer.__next__``: 50-100 % of it); a row released into a freed slot
#: (by a provider's callback, in the API) waits that long for a worker.
DIAL_POLL_MS = 8
#: How long after its last dial message (or its start) a worker keeps looking that
#: often; after that it waits the worker timeout again (each look costs CPU: ~0.7 ms).
DIAL_BUSY_S = 10.0
#: How long a consumer that lost Redis waits before it consumes again (dramatiq: 3 s),
#: and a worker thread before it retries the ack of a message it ran (dramatiq: 5 s).
#: After a failover both added to the stall (docs/failover.md); Redis answering again
#: is what they wait for, and a connection attempt costs a millisecond.
CONSUMER_RESTART_S = 0.25
ACK_RETRY_S = 0.25


class _DialConsumer(_RedisConsumer):
    """The dial queue's consumer: polls every :data:`DIAL_POLL_MS` while dials come,
    at the worker timeout when none came for :data:`DIAL_BUSY_S`.

    It starts busy: a worker that joins a running job finds a dial message only in the
    few milliseconds before a busy worker takes it, so looking once a second (the idle
    pace) it could wait many seconds for its first call while the others, over their
    share, keep sending rows to the broker and taking them back themselves.
    """

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self._idle_timeout = timeout
        self._busy_until = time.monotonic() + DIAL_BUSY_S
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]

    @property
    def timeout(self) -> int:  # read by _RedisConsumer.__next__ at each empty look
        if time.monotonic() < self._busy_until:
            return min(DIAL_POLL_MS, self._idle_timeout)
        return self._idle_timeout

    @timeout.setter
    def timeout(self, value: int) -> None:
        self._idle_timeout = value

    def __next__(self) -> MessageProxy | None:
        message: MessageProxy | None = super().__next__()  # type: ignore[no-untyped-call]
        if message is not None:
            self._busy_until = time.monotonic() + DIAL_BUSY_S
        return message


class BatchdialBroker(RedisBroker):
    """dramatiq's Redis broker, looking at the dial queue often while dials come."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """A consumer of ``queue_name`` (the dial queue's: :class:`_DialConsumer`)."""
        if queue_name == DIAL_QUEUE:
            return _DialConsumer(self, queue_name, prefetch, timeout)
        return super().consume(queue_name, prefetch, timeout)


def make_broker(client: redis.Redis, namespace: str) -> RedisBroker:
    """A Redis broker whose keys and queues live under ``<namespace>:dramatiq``.

    ``client`` must not decode responses (dramatiq reads bytes). Our actors take
    their own retries decisions, so Retries is kept only for the scheduler (see the
    actors); TimeLimit bounds a stuck actor; no Prometheus middleware here (the
    worker adds metrics of its own).
    """
    # Module constants dramatiq reads at each use (dramatiq/worker.py); not settable else.
    dramatiq.worker.CONSUMER_RESTART_DELAY_SECS = CONSUMER_RESTART_S
    dramatiq.worker.POST_PROCESS_MESSAGE_RETRY_DELAY_SECS = ACK_RETRY_S  # type: ignore[assignment]
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

    def send_webhooks(self) -> None:
        """Ask for one run of the webhook delivery actor (fan-out and due attempts)."""
        self._send(WEBHOOK_QUEUE, WEBHOOK_ACTOR, ())

    def _send(self, queue_name: str, actor_name: str, args: tuple[object, ...]) -> None:
        # What Actor.send builds (dramatiq/actor.py, message_with_options), without
        # needing the actor object: the engine (and the API) exist without the actors.
        message = dramatiq.Message(  # type: ignore[var-annotated]
            queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
        )
        self._broker.enqueue(message)
