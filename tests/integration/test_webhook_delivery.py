"""The delivery state machine on a real Redis, in process (issue 16): retries, the end
after the last attempt, a manual retry, an endpoint disabled after failing for its
whole window, the delivery-time address check, a deleted endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
import redis

from domain.keys import Keys
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.waits import wait_for
from tests.support.webhook_receiver import Receiver, ReceiverServer, receiver_server
from worker.engine.loop import EventLoop
from worker.webhooks.delivery import WebhookDelivery, WebhookTiming

Entries = list[tuple[str, dict[str, str]]]
FAST = WebhookTiming(retry_s=(0,), timeout_s=2.0, lease_ms=5_000)


#: The deliveries a test made, closed before its loop stops (their kept connections).
_OPEN: list[WebhookDelivery] = []


def _opened(*args: Any, **kwargs: Any) -> WebhookDelivery:
    delivery = WebhookDelivery(*args, **kwargs)
    _OPEN.append(delivery)
    return delivery


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    loop = EventLoop("test-webhooks")
    yield loop
    while _OPEN:
        _OPEN.pop().close()
    loop.stop()


@pytest.fixture
def producer(real_redis: redis.Redis, namespace: str) -> Producer:
    return Producer(real_redis, namespace, webhook_allow_private=True)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, ReceiverServer]]:
    got = Receiver(mode="error")
    with receiver_server(got) as server:
        yield got, server


def _setup(producer: Producer, server: ReceiverServer, receiver: Receiver) -> tuple[str, str]:
    """A workspace with one endpoint taking job.created, and one job (one event)."""
    ws = producer.workspaces.create("ws", 5, ["+12125550100"])
    ws_id = ws["workspaceId"]
    hook = producer.webhooks.create(ws_id, {"url": server.url, "events": ["job.created"]})
    receiver.secret = hook["secret"]
    producer.create_job(ws_id, job_body(ws, 1))
    return ws_id, hook["id"]


def _step(delivery: WebhookDelivery) -> None:
    """One actor run, then wait for its attempts to be recorded."""
    delivery.run()
    wait_for(lambda: delivery.in_flight() == 0, 10, "attempts recorded")


def _delivery(
    producer: Producer, ws_id: str, hook_id: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    attempts = producer.deliveries.attempts(ws_id, hook_id).data
    key = producer.keys.ws_key(ws_id, "k_wh_dlv", attempts[0]["deliveryId"]) if attempts else ""
    return attempts, cast(dict[str, str], producer.redis.hgetall(key)) if key else {}


def test_retried_then_failed_then_retried_by_hand(
    producer: Producer,
    real_redis: redis.Redis,
    namespace: str,
    loop: EventLoop,
    receiver: tuple[Receiver, ReceiverServer],
) -> None:
    """With one retry allowed: a 503, a retry (same webhook-id), a 503 again and the
    delivery is failed and no longer due; a manual retry sends it once more, delivered."""
    got, server = receiver
    ws_id, hook_id = _setup(producer, server, got)
    delivery = _opened(real_redis, Keys(namespace), loop, lambda: None, FAST, allow_private=True)
    _step(delivery)
    _step(delivery)
    attempts, record = _delivery(producer, ws_id, hook_id)
    assert [a["outcome"] for a in attempts] == ["failed", "retrying"]
    assert [a["statusCode"] for a in attempts] == [503, 503]
    assert attempts[1]["nextAttemptAt"] and attempts[0]["nextAttemptAt"] is None
    assert record["status"] == "failed"
    record_key = producer.keys.ws_key(ws_id, "k_wh_dlv", attempts[0]["deliveryId"])
    assert 86_400 < real_redis.ttl(record_key) <= 7 * 86_400, "a failed delivery is kept a week"
    assert len(set(got.count_by_id())) == 1 and sum(got.count_by_id().values()) == 2
    _step(delivery)
    assert sum(got.count_by_id().values()) == 2, "a failed delivery is not attempted again"
    got.mode = "ok"
    retried = producer.deliveries.retry(ws_id, hook_id, attempts[0]["deliveryId"])
    assert retried["previousStatus"] == "failed" and retried["status"] == "pending"
    _step(delivery)
    attempts, record = _delivery(producer, ws_id, hook_id)
    assert attempts[0]["outcome"] == "delivered" and record["status"] == "delivered"
    assert 0 < real_redis.ttl(record_key) <= 86_400, "a delivered one a day"
    assert list(got.count_by_id().values()) == [3]
    assert got.bad_signatures == []


def test_an_endpoint_failing_for_its_whole_window_is_disabled(
    producer: Producer,
    real_redis: redis.Redis,
    namespace: str,
    loop: EventLoop,
    receiver: tuple[Receiver, ReceiverServer],
) -> None:
    """Failures spanning the disable window (5 days; 0 here) disable the endpoint, with
    webhook.disabled in the workspace's log; re-enabling it clears that."""
    got, server = receiver
    ws_id, hook_id = _setup(producer, server, got)
    timing = replace(FAST, retry_s=(0, 0), disable_after_ms=0)
    delivery = _opened(real_redis, Keys(namespace), loop, lambda: None, timing, allow_private=True)
    _step(delivery)
    assert producer.webhooks.get(ws_id, hook_id)["enabled"] is True, "one failure is not enough"
    _step(delivery)
    hook = producer.webhooks.get(ws_id, hook_id)
    assert hook["enabled"] is False and hook["disabledReason"]
    log = cast(Entries, real_redis.xrange(producer.keys.ws_key(ws_id, "K_WH_LOG")))
    assert [json.loads(f["e"])["type"] for _, f in log] == ["webhook.disabled"]
    _step(delivery)
    attempts, record = _delivery(producer, ws_id, hook_id)
    assert record["status"] == "failed" and attempts[0]["error"] == "endpoint disabled"
    assert sum(got.count_by_id().values()) == 2, "nothing is sent to a disabled endpoint"
    again = producer.webhooks.update(ws_id, hook_id, {"enabled": True})
    assert again["enabled"] is True and again["disabledReason"] is None


def test_a_destination_turned_private_is_refused_at_delivery_time(
    producer: Producer,
    real_redis: redis.Redis,
    namespace: str,
    loop: EventLoop,
    receiver: tuple[Receiver, ReceiverServer],
) -> None:
    """An endpoint whose host resolves to loopback when its attempt is made (DNS
    rebinding) gets no request: the attempt records the refusal and is retried."""
    got, server = receiver
    ws_id, hook_id = _setup(producer, server, got)
    delivery = _opened(real_redis, Keys(namespace), loop, lambda: None, FAST, allow_private=False)
    _step(delivery)
    attempts, _ = _delivery(producer, ws_id, hook_id)
    assert attempts[0]["outcome"] == "retrying"
    assert "destination refused" in attempts[0]["error"] and "127.0.0.1" in attempts[0]["error"]
    assert got.receipts == []


def test_a_deleted_endpoint_gets_nothing(
    producer: Producer,
    real_redis: redis.Redis,
    namespace: str,
    loop: EventLoop,
    receiver: tuple[Receiver, ReceiverServer],
) -> None:
    """Deliveries of an endpoint deleted before their attempt end failed, unsent."""
    got, server = receiver
    ws_id, hook_id = _setup(producer, server, got)
    delivery = _opened(real_redis, Keys(namespace), loop, lambda: None, FAST, allow_private=True)
    delivery.fanout.run(ws_id)
    producer.webhooks.delete(ws_id, hook_id)
    _step(delivery)
    assert got.receipts == []
    assert real_redis.zcard(producer.keys.ws_key(ws_id, "k_wh_q", hook_id)) == 0
    assert real_redis.zcard(producer.keys.ns_key("K_WH_DUE")) == 0


def test_a_hanging_endpoint_delays_no_other_endpoint(
    producer: Producer, real_redis: redis.Redis, namespace: str, loop: EventLoop
) -> None:
    """One endpoint never answers within the timeout; the other endpoint of the same
    workspace gets its deliveries while the first one's attempts are still waiting."""
    hanging, quick = Receiver(mode="hang", hang_s=3.0), Receiver(mode="ok")
    with receiver_server(hanging) as slow_server, receiver_server(quick) as quick_server:
        ws = producer.workspaces.create("ws", 5, ["+12125550100"])
        ws_id = ws["workspaceId"]
        ids = []
        for got, server in ((hanging, slow_server), (quick, quick_server)):
            hook = producer.webhooks.create(ws_id, {"url": server.url, "events": ["*"]})
            got.secret = hook["secret"]
            ids.append(hook["id"])
        for _ in range(3):
            producer.create_job(ws_id, job_body(ws, 1))
        timing = replace(FAST, timeout_s=2.0)
        delivery = _opened(
            real_redis, Keys(namespace), loop, lambda: None, timing, allow_private=True
        )
        delivery.run()
        wait_for(lambda: len(quick.delivered()) == 3, 1.5, "the quick endpoint's deliveries")
        assert len(hanging.receipts) == 1, "the hanging endpoint is still on its first"
        wait_for(lambda: delivery.in_flight() == 0, 15, "the hanging attempts to time out")
        attempts = producer.deliveries.attempts(ws_id, ids[0]).data
        assert {a["error"] for a in attempts} == {"no answer within 2 s"}


def test_an_endpoint_held_with_a_large_backlog_keeps_no_other_waiting(
    producer: Producer, real_redis: redis.Redis, namespace: str, loop: EventLoop
) -> None:
    """An endpoint with hundreds of due deliveries, held by another worker, does not keep
    a second endpoint's deliveries from being taken and sent (each endpoint waits in its
    own queue); once the hold ends, its own deliveries go out in event order."""
    held_got, other_got = Receiver(mode="ok"), Receiver(mode="ok")
    with receiver_server(held_got) as held_server, receiver_server(other_got) as other_server:
        ws = producer.workspaces.create("ws", 5, ["+12125550100"])
        ws_id = ws["workspaceId"]
        ids = []
        for got, server in ((held_got, held_server), (other_got, other_server)):
            hook = producer.webhooks.create(ws_id, {"url": server.url, "events": ["*"]})
            got.secret = hook["secret"]
            ids.append(hook["id"])
        outbox = producer.keys.ws_key(ws_id, "K_WH_OUT")
        for n in range(300):
            body = f'{{"type":"job.updated","jobId":"job_x","n":{n}}}'
            real_redis.xadd(outbox, {"j": "job_x", "i": f"{1_800_000_000_000 + n}-0", "e": body})
        timing = replace(FAST, max_in_flight=20)
        delivery = _opened(
            real_redis, Keys(namespace), loop, lambda: None, timing, allow_private=True
        )
        assert delivery.fanout.run(ws_id) == 600
        busy = producer.keys.ns_key("K_WH_BUSY")
        real_redis.zadd(busy, {f"{ws_id}|{ids[0]}": 10**13})  # another worker's hold
        _step(delivery)
        assert len(other_got.delivered()) == 20 and held_got.receipts == []
        real_redis.zrem(busy, f"{ws_id}|{ids[0]}")
        real_redis.zadd(producer.keys.ns_key("K_WH_DUE"), {f"{ws_id}|{ids[0]}": 0})
        for _ in range(100):
            if len(held_got.delivered()) >= 300:
                break
            _step(delivery)
        sent = [r.body["data"]["n"] for r in held_got.delivered()]
        assert sent == list(range(300)), "one endpoint's deliveries go in event order"


def test_the_tick_asks_for_one_run_per_window_and_none_without_endpoints(
    producer: Producer, real_redis: redis.Redis, namespace: str, loop: EventLoop
) -> None:
    """Many workers ticking at once send one actor message per tick window, and none
    while no workspace has had an endpoint."""
    sent: list[int] = []
    workers = [
        _opened(real_redis, Keys(namespace), loop, lambda: sent.append(1), FAST) for _ in range(3)
    ]
    for w in workers:
        w.tick()
    assert sent == []
    real_redis.delete(producer.keys.ns_key("K_WH_TICK"))
    ws = producer.workspaces.create("ws", 5, ["+12125550100"])
    producer.webhooks.create(ws["workspaceId"], {"url": "http://127.0.0.1:9/x", "events": ["*"]})
    for w in workers:
        w.tick()
    assert sent == [1]


@pytest.mark.parametrize("dialing_first", [True, False])
def test_dialing_first_leaves_a_trickle_while_dial_messages_wait(
    producer: Producer,
    real_redis: redis.Redis,
    namespace: str,
    loop: EventLoop,
    dialing_first: bool,
) -> None:
    """While dial messages wait on the broker, a process that also dials fans out and
    attempts only ``busy_batch`` per run; once the dial queue is empty it takes the
    rest. A process that does not dial (``--queues webhooks``) never holds back."""
    got = Receiver(mode="ok")
    with receiver_server(got) as server:
        ws = producer.workspaces.create("ws", 5, ["+12125550100"])
        ws_id = ws["workspaceId"]
        hook = producer.webhooks.create(ws_id, {"url": server.url, "events": ["*"]})
        got.secret = hook["secret"]
        outbox = producer.keys.ws_key(ws_id, "K_WH_OUT")
        ids = []
        for n in range(60):
            body = f'{{"type":"job.updated","jobId":"job_x","n":{n}}}'
            fields = {"j": "job_x", "i": f"{1_800_000_000_000 + n}-0", "e": body}
            ids.append(real_redis.xadd(outbox, fields))  # type: ignore[arg-type]
        timing = replace(FAST, busy_batch=7)
        delivery = _opened(
            real_redis,
            Keys(namespace),
            loop,
            lambda: None,
            timing,
            allow_private=True,
            dialing_first=dialing_first,
        )
        queue = producer.keys.dial_queue
        real_redis.rpush(queue, "a-dial-message-id")  # every dial thread busy
        try:
            assert delivery.busy() is dialing_first
            _step(delivery)
            expected = 7 if dialing_first else 60
            assert len(got.delivered()) == expected
            cursor = real_redis.get(producer.keys.ws_key(ws_id, "K_WH_CUR"))
            assert cursor == ids[expected - 1], "the rest waits in the outbox"
        finally:
            real_redis.delete(queue)
        assert delivery.busy() is dialing_first, "held a moment after the queue empties"
        real_redis.delete(producer.keys.ns_key("K_WH_DIALING"))
        assert not delivery.busy()
        refills = producer.keys.ns_key("K_REFILLS")
        real_redis.rpush(refills, f"{ws_id}|job_x|0")  # a callback's refill not yet taken
        try:
            assert delivery.busy() is dialing_first
        finally:
            real_redis.delete(refills, producer.keys.ns_key("K_WH_DIALING"))
        _step(delivery)
        sent = [r.body["data"]["n"] for r in got.delivered()]
        assert sent == list(range(60)), "the rest, in order, once the dials leave room"
        assert got.bad_signatures == []
