"""The dial queue's consumer: how often it looks at an empty queue."""

from __future__ import annotations

import fakeredis
from dramatiq.brokers.redis import _RedisConsumer

from config.broker import DIAL_POLL_MS, DIAL_QUEUE, SCHEDULER_QUEUE, make_broker


def test_a_new_worker_looks_at_the_dial_queue_often_from_its_start() -> None:
    """A worker joining a running job finds a dial message only in the milliseconds
    before a busy worker takes it; at the idle pace it could miss them for seconds."""
    broker = make_broker(fakeredis.FakeRedis(), "test-broker")
    broker.declare_queue(DIAL_QUEUE)
    consumer = broker.consume(DIAL_QUEUE, prefetch=4, timeout=1_000)
    assert isinstance(consumer, _RedisConsumer)
    try:
        assert consumer.timeout == DIAL_POLL_MS
    finally:
        consumer.close()


def test_other_queues_keep_dramatiqs_pace() -> None:
    broker = make_broker(fakeredis.FakeRedis(), "test-broker")
    broker.declare_queue(SCHEDULER_QUEUE)
    consumer = broker.consume(SCHEDULER_QUEUE, prefetch=4, timeout=1_000)
    assert isinstance(consumer, _RedisConsumer)
    try:
        assert consumer.timeout == 1_000
    finally:
        consumer.close()
