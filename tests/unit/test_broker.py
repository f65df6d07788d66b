"""The dial queue's consumer and its bell (config/broker.py): a dial message rings the
bell; an idle consumer waits on the bell, not on a sleep, so it takes a message the
moment it is sent; a message that came without a ring is still found at the timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import fakeredis
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer

from config import broker as broker_module
from config.broker import (
    DIAL_ACTOR,
    DIAL_BELL_RINGS,
    DIAL_QUEUE,
    RUNG_QUEUES,
    SCHEDULER_QUEUE,
    WEBHOOK_QUEUE,
    BrokerOutbox,
    make_broker,
)
from config.redis import make_redis
from domain.keys import Keys
from tests.support.redis_server import REDIS_URL, drop_namespace
from tests.support.waits import wait_for


def _message(queue: str) -> dramatiq.Message[Any]:
    return dramatiq.Message(
        queue_name=queue, actor_name="batchdial.dial", args=("ws", "job", 0), kwargs={}, options={}
    )


def test_messages_due_now_ring_their_queues_bell_and_delayed_ones_do_not() -> None:
    """A message due now rings its queue's bell (LPUSH); a delayed one does not; a bell
    keeps at most DIAL_BELL_RINGS rings however many messages were sent."""
    client = fakeredis.FakeRedis()
    broker = make_broker(client, "test-broker")
    keys = Keys("test-broker")
    for queue in RUNG_QUEUES:
        broker.declare_queue(queue)
    broker.enqueue(_message(DIAL_QUEUE), delay=10_000)
    assert [client.llen(keys.bell(q)) for q in RUNG_QUEUES] == [0, 0, 0]
    broker.enqueue(_message(SCHEDULER_QUEUE))
    assert client.llen(keys.bell(SCHEDULER_QUEUE)) == 1
    assert client.llen(keys.bell(DIAL_QUEUE)) == 0
    broker.enqueue(_message(DIAL_QUEUE))
    assert client.llen(keys.bell(DIAL_QUEUE)) == 1
    broker.enqueue(_message(WEBHOOK_QUEUE))
    assert client.llen(keys.bell(WEBHOOK_QUEUE)) == 1
    for _ in range(DIAL_BELL_RINGS * 2):
        broker.enqueue(_message(DIAL_QUEUE))
    assert client.llen(keys.bell(DIAL_QUEUE)) == DIAL_BELL_RINGS


def test_every_queue_due_now_waits_on_its_bell_and_delay_queues_poll() -> None:
    broker = make_broker(fakeredis.FakeRedis(), "test-broker")
    for queue in RUNG_QUEUES:
        broker.declare_queue(queue)
        consumer = broker.consume(queue, prefetch=4, timeout=1_000)
        try:
            assert type(consumer).__name__ == "_BellConsumer"
            assert consumer._bell == Keys("test-broker").bell(queue)  # type: ignore[attr-defined]
        finally:
            consumer.close()
    delayed = broker.consume(f"{SCHEDULER_QUEUE}.DQ", prefetch=4, timeout=1_000)
    try:
        assert type(delayed) is _RedisConsumer and delayed.timeout == 1_000
    finally:
        delayed.close()


@pytest.fixture
def broker_client(namespace: str) -> Iterator[redis.Redis]:
    client = make_redis(REDIS_URL, decode=False)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis (scripts/test starts one)")
    yield client
    drop_namespace(make_redis(REDIS_URL), namespace)
    client.close()


def _first_message(consumer: _RedisConsumer, until: float) -> float:
    """Call the consumer as dramatiq's worker does until it yields a message; when."""
    while time.monotonic() < until:
        if next(consumer) is not None:
            return time.monotonic()
    raise AssertionError("no message")


@pytest.mark.redis
def test_an_idle_consumer_is_woken_by_the_bell(
    broker_client: redis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look that finds the queue empty answers at once; the next one waits on the bell
    (its BLPOP seen blocked in CLIENT LIST, for up to 30 s); dial messages sent then wake
    it at once, the rings left are dropped, and the same look takes a message. One whose
    ring was lost is found when the wait ends (here 0.3 s), as dramatiq's own polling
    would."""
    monkeypatch.setattr(broker_module, "DIAL_BELL_WAIT_MAX_S", 30.0)
    name = f"bell-{namespace}"
    waiting_client = redis.Redis.from_url(REDIS_URL, client_name=name)  # no socket timeout
    broker = make_broker(waiting_client, namespace)
    sender = make_broker(broker_client, namespace)
    broker.declare_queue(DIAL_QUEUE)
    consumer = broker.consume(DIAL_QUEUE, prefetch=4, timeout=30_000)
    assert isinstance(consumer, _RedisConsumer)
    looks: list[object] = []
    bell = Keys(namespace).bell(DIAL_QUEUE)
    try:
        thread = threading.Thread(target=lambda: looks.extend([next(consumer), next(consumer)]))
        thread.start()

        def blocked() -> bool:
            clients = broker_client.client_list()
            return any(c.get("name") == name and c.get("cmd") == "blpop" for c in clients)

        wait_for(blocked, 10, "the consumer to wait on the bell")
        # Three messages, sent at once (their rings pushed in one step): one wakes it and
        # it drops the other two, which are for messages this look takes anyway.
        for _ in range(3):
            RedisBroker.enqueue(sender, _message(DIAL_QUEUE))  # no ring of its own
        broker_client.lpush(bell, 1, 1, 1)
        thread.join(10)
        assert not thread.is_alive(), "the ring woke the consumer (it would wait 30 s)"
        assert looks[0] is None, "the first look found the queue empty"
        assert looks[1] is not None, "the woken look took a message"
        assert broker_client.llen(bell) == 0
        assert len(consumer.message_cache) == 2, "and the other two in the same fetch"
    finally:
        consumer.close()
        waiting_client.close()
    quiet = sender.consume(DIAL_QUEUE, prefetch=1, timeout=300)
    assert isinstance(quiet, _RedisConsumer)
    try:
        assert next(quiet) is None  # the queue empty: the next look waits on the bell
        sender.enqueue(_message(DIAL_QUEUE))
        broker_client.delete(bell)  # its ring lost
        _first_message(quiet, time.monotonic() + 5)
    finally:
        quiet.close()


@pytest.mark.redis
def test_a_look_that_empties_the_queue_waits_for_a_ring_before_the_next_fetch(
    broker_client: redis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look that took fewer messages than it asked for saw the queue empty: the next
    fetches nothing until a ring (a message sent since) or the wait's end. A look that
    took all it asked for may have left some: the next fetches at once."""
    monkeypatch.setattr(broker_module, "DIAL_BELL_WAIT_MAX_S", 30.0)
    broker = make_broker(redis.Redis.from_url(REDIS_URL), namespace)
    broker.declare_queue(DIAL_QUEUE)
    fetches: list[int] = []
    fetch = broker.do_fetch

    def counted(queue_name: str, prefetch: int) -> list[bytes]:
        got: list[bytes] = fetch(queue_name, prefetch)
        fetches.append(len(got))
        return got

    monkeypatch.setattr(broker, "do_fetch", counted)
    consumer = broker.consume(DIAL_QUEUE, prefetch=2, timeout=30_000)
    try:
        for _ in range(3):
            broker.enqueue(_message(DIAL_QUEUE))
        broker_client.delete(Keys(namespace).bell(DIAL_QUEUE))
        taken = [next(consumer), next(consumer)]
        assert None not in taken and fetches == [2]
        assert next(consumer) is None, "both threads busy: no look"
        for message in taken:
            consumer.ack(message)  # type: ignore[arg-type]
        assert next(consumer) is not None, "a full look: the next one fetched at once"
        assert fetches == [2, 1]
        looks: list[object] = []
        thread = threading.Thread(target=lambda: looks.append(next(consumer)), daemon=True)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and fetches == [2, 1], "waiting on the bell, not fetching"
        broker.enqueue(_message(DIAL_QUEUE))  # rings
        thread.join(10)
        assert looks and looks[0] is not None
        assert fetches == [2, 1, 1]
    finally:
        consumer.close()
        broker.client.close()


def test_many_dial_messages_are_enqueued_in_one_round_trip_as_dramatiq_would() -> None:
    """``send_dials`` (the scheduler's release of a job's first rows): one pipeline for
    all the messages, each as dramatiq's own enqueue writes it (a unique Redis id, the
    middleware's hooks), taken by a dramatiq consumer in order; the bell rings once per
    message, DIAL_BELL_RINGS at most."""
    client = fakeredis.FakeRedis()
    broker = make_broker(client, "test-broker")
    broker.declare_queue(DIAL_QUEUE)
    hooked: list[str] = []

    class Hook(dramatiq.Middleware):
        def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            hooked.append(message.options["redis_message_id"])

    broker.add_middleware(Hook())
    executed = 0
    real_pipeline = client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        nonlocal executed
        executed += 1
        return real_pipeline(*args, **kwargs)

    client.pipeline = counting_pipeline  # type: ignore[method-assign]
    BrokerOutbox(broker).send_dials("ws", "job", list(range(40)))
    assert executed == 1
    keys = Keys("test-broker")
    assert client.llen(keys.dial_queue) == 40
    assert client.llen(keys.bell(DIAL_QUEUE)) == DIAL_BELL_RINGS
    consumer = broker.consume(DIAL_QUEUE, prefetch=40, timeout=1_000)
    try:
        taken = [next(consumer) for _ in range(40)]
    finally:
        consumer.close()
    assert [list(p._message.args) for p in taken if p is not None] == [
        ["ws", "job", i] for i in range(40)
    ]
    ids = [p.options["redis_message_id"] for p in taken if p is not None]
    assert len(set(ids)) == 40
    assert ids == hooked
    assert {p.actor_name for p in taken if p is not None} == {DIAL_ACTOR}
