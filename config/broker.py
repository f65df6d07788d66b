"""The dramatiq Redis broker under the batchdial namespace, and the outbox that sends
the actors' messages on it (workers and the API alike: the API sends the dial messages
of the rows a provider's callback released, SPEC §6)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import dramatiq
import dramatiq.worker
import redis
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from redis.commands.core import Script

from domain.keys import DIAL_BELL_RINGS, DIAL_QUEUE, SCHEDULER_QUEUE, Keys
from domain.lanes import evalsha

__all__ = [
    "DIAL_ACTOR",
    "DIAL_BELL_RINGS",
    "DIAL_FULL_POLL_MS",
    "DIAL_QUEUE",
    "RUNG_QUEUES",
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
#: The queues whose messages ring a bell and whose consumers wait on it (every queue a
#: message is sent to for now; their ``.DQ`` delay queues keep dramatiq's polling).
RUNG_QUEUES = (DIAL_QUEUE, SCHEDULER_QUEUE, WEBHOOK_QUEUE)
#: How often a consumer whose prefetch is full looks again (ms): no Redis I/O, it waits
#: for one of its own threads to take a message.
DIAL_FULL_POLL_MS = 5
#: The longest wait on a bell (s), below the clients' socket timeout.
DIAL_BELL_WAIT_MAX_S = 1.0
#: How long a consumer that lost Redis waits before it consumes again (dramatiq: 3 s),
#: and a worker thread before it retries the ack of a message it ran (dramatiq: 5 s).
#: After a failover both added to the stall (docs/failover.md); Redis answering again
#: is what they wait for, and a connection attempt costs a millisecond.
CONSUMER_RESTART_S = 0.25
ACK_RETRY_S = 0.25


class _BellConsumer(_RedisConsumer):
    """The consumer of a queue of :data:`RUNG_QUEUES`: once a look has emptied the queue
    it waits on the queue's bell (``Keys.bell``, BLPOP) instead of sleeping, so that a
    message (a dial, a scheduler's run, a webhook delivery run) is taken the moment it is
    sent, and an idle worker costs no polling (dramatiq's consumers looked every 100 ms
    or less, the worker's timeout then: 36 ms of CPU a second for an idle worker process,
    2026-12-04).

    dramatiq's consumer looks again after every message it hands out, and sleeps a
    backoff of up to its worker timeout after each empty look
    (``_RedisConsumer.__next__``). Here a look that took fewer messages than it asked for
    saw the queue empty, so every message sent since has rung the bell: the next look
    waits for a ring first (for at most the worker timeout, so that messages that reach
    the queue without a ring, dramatiq moving a dead consumer's messages back, are still
    found then). When calls trickle in one at a time that saves a fetch per message
    (fetches were 28 % of a worker's CPU per call, bench/RESULTS.md). BLPOP wakes the
    longest waiter first, so idle workers take turns.
    """

    def __init__(
        self, broker: BatchdialBroker, queue_name: str, prefetch: int, timeout: int
    ) -> None:
        self._bell = broker.bell(queue_name)
        #: The last look took fewer messages than it asked for: the queue was empty.
        self._drained = False
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]

    def __next__(self) -> MessageProxy | None:
        if not self.message_cache:
            room = self.prefetch - self.outstanding_message_count
            if room <= 0:  # every thread busy: no Redis I/O until one takes a message
                time.sleep(DIAL_FULL_POLL_MS / 1000)
                return None
            try:
                if self._drained:
                    self._wait_for_bell()
                self.message_cache = self.broker.do_fetch(self.queue_name, room)
            except redis.ConnectionError as exc:
                raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
            self._drained = len(self.message_cache) < room
            if not self.message_cache:
                return None
        message: MessageProxy | None = super().__next__()  # type: ignore[no-untyped-call]
        return message

    def _wait_for_bell(self) -> None:
        """Wait for a ring, for at most the worker timeout (capped)."""
        wait_s = min(int(self.timeout) / 1000, DIAL_BELL_WAIT_MAX_S)
        if self.broker.client.blpop([self._bell], timeout=wait_s) is not None:
            # The rings left are for messages this look will find: one look takes up
            # to prefetch of them, so a ring each would mean empty looks.
            self.broker.client.delete(self._bell)


class BatchdialBroker(RedisBroker):
    """dramatiq's Redis broker whose messages ring their queue's bell."""

    def __init__(self, *, keys: Keys, **options: Any) -> None:
        self.bell = keys.bell
        super().__init__(**options)  # type: ignore[no-untyped-call]
        # dramatiq's one script (enqueue, fetch, ack, nack...) on the thread's own
        # connection, as ours are (domain/scripts.py): a fetch and an ack per dial.
        self.scripts["dispatch"] = _OnLane(self.client, self.scripts["dispatch"])

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """A consumer of ``queue_name`` (a rung queue's: :class:`_BellConsumer`)."""
        if queue_name in RUNG_QUEUES:
            return _BellConsumer(self, queue_name, prefetch, timeout)
        return super().consume(queue_name, prefetch, timeout)

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:  # type: ignore[type-arg]
        """Enqueue ``message``; one due now goes through :meth:`enqueue_now` (it rings its
        queue's bell in the same round trip), a delayed one through dramatiq."""
        if delay is not None:
            sent: dramatiq.Message = super().enqueue(message, delay=delay)  # type: ignore[type-arg]
            return sent
        return self.enqueue_now([message])[0]

    def enqueue_now(self, messages: list[dramatiq.Message]) -> list[dramatiq.Message]:  # type: ignore[type-arg]
        """Enqueue ``messages`` (due now) in one round trip; returns them as sent. For
        each, what dramatiq's enqueue does (a unique Redis id, the middleware's hooks,
        its dispatch script), in one pipeline with a ring of its queue's bell each.

        Sent one by one, a scheduler's release of a job's first rows (its cap: hundreds)
        took a round trip and a bell ring each while the dials it had sent already ran
        beside it: at cap 200, half a second, and the calls could start no faster
        (bench/RESULTS.md, 2026-12-03).
        """
        dispatch = self.scripts["dispatch"]
        sent = []
        with self.client.pipeline(transaction=False) as pipe:
            for unsent in messages:
                message = unsent.copy(options={"redis_message_id": str(uuid4())})
                self.emit_before("enqueue", message, None)
                # The arguments of dramatiq's do_dispatch (RedisBroker._dispatch).
                args = [
                    "enqueue",
                    current_millis(),
                    message.queue_name,
                    self.broker_id,
                    self.heartbeat_timeout,
                    self.dead_message_ttl,
                    self._should_do_maintenance("enqueue"),
                    self._max_unpack_size(),  # type: ignore[no-untyped-call]
                    message.options["redis_message_id"],
                    message.encode(),
                ]
                dispatch(keys=[self.namespace], args=args, client=pipe)
                sent.append(message)
            by_queue = Counter(m.queue_name for m in sent)
            for queue_name in RUNG_QUEUES:
                self._ring(pipe, queue_name, by_queue[queue_name])
            pipe.execute()
        for message in sent:
            self.emit_after("enqueue", message, None)
        return sent

    def _ring(self, pipe: redis.client.Pipeline, queue_name: str, messages: int) -> None:
        """Ring the queue's bell once per message (it keeps DIAL_BELL_RINGS at most)."""
        if messages:
            bell = self.bell(queue_name)
            pipe.lpush(bell, *([1] * min(messages, DIAL_BELL_RINGS)))
            pipe.ltrim(bell, 0, DIAL_BELL_RINGS - 1)


class _OnLane:
    """A redis-py ``Script`` run by :func:`domain.scripts.evalsha` unless it is given a
    client (a pipeline: ``enqueue_now``)."""

    def __init__(self, client: redis.Redis, script: Script) -> None:
        self._client = client
        self._script = script

    def __call__(
        self, keys: list[Any], args: list[Any], client: redis.client.Pipeline | None = None
    ) -> Any:
        if client is not None:
            return self._script(keys=keys, args=args, client=client)
        return evalsha(self._client, self._script, keys, args)


def make_broker(client: redis.Redis, namespace: str) -> BatchdialBroker:
    """A Redis broker whose keys and queues live under ``<namespace>:dramatiq``.

    ``client`` must not decode responses (dramatiq reads bytes). Our actors take
    their own retries decisions, so Retries is kept only for the scheduler (see the
    actors); TimeLimit bounds a stuck actor; no Prometheus middleware here (the
    worker adds metrics of its own).
    """
    # Module constants dramatiq reads at each use (dramatiq/worker.py); not settable else.
    dramatiq.worker.CONSUMER_RESTART_DELAY_SECS = CONSUMER_RESTART_S
    dramatiq.worker.POST_PROCESS_MESSAGE_RETRY_DELAY_SECS = ACK_RETRY_S  # type: ignore[assignment]
    keys = Keys(namespace)
    return BatchdialBroker(
        keys=keys,
        client=client,
        namespace=keys.broker_namespace,
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

    def __init__(self, broker: BatchdialBroker) -> None:
        self._broker = broker

    def send_pump(self, ws_id: str, job_id: str) -> None:
        """Ask for one run of the job's scheduler."""
        self._send(SCHEDULER_QUEUE, SCHEDULER_ACTOR, (ws_id, job_id))

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        """Ask for one dial of a released row."""
        self._send(DIAL_QUEUE, DIAL_ACTOR, (ws_id, job_id, index))

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        """Ask for one dial of each released row, in one round trip."""
        if indexes:
            self._broker.enqueue_now(
                [_message(DIAL_QUEUE, DIAL_ACTOR, (ws_id, job_id, index)) for index in indexes]
            )

    def send_webhooks(self) -> None:
        """Ask for one run of the webhook delivery actor (fan-out and due attempts)."""
        self._send(WEBHOOK_QUEUE, WEBHOOK_ACTOR, ())

    def _send(self, queue_name: str, actor_name: str, args: tuple[object, ...]) -> None:
        self._broker.enqueue(_message(queue_name, actor_name, args))


def _message(queue_name: str, actor_name: str, args: tuple[object, ...]) -> dramatiq.Message:  # type: ignore[type-arg]
    """What Actor.send builds (dramatiq/actor.py, message_with_options), without needing
    the actor object: the engine (and the API) exist without the actors."""
    return dramatiq.Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
