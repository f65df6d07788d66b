"""A carrier's callback ends the dial and refills its slot in one step: the script that
records the end puts the released row's dial message on dramatiq's dial queue, in the
form dramatiq's own enqueue writes, and rings the dial bell (``finish_dial.lua``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from fastapi.testclient import TestClient

from config.broker import DIAL_ACTOR, DIAL_QUEUE, BrokerOutbox, make_broker
from domain.signing import SIGNATURE_HEADER, sign
from producer.http.app import create_app
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.engine import HangingDialer, RecordingOutbox
from tests.support.redis_server import REDIS_URL
from worker.engine.core import Engine
from worker.engine.timing import Timing

SECRET = "s3cret"


@pytest.fixture
def setup(real_redis: redis.Redis, namespace: str) -> Iterator[dict[str, Any]]:
    """An API on a real broker (as ``batchdial api`` runs), and a job of cap 1 with three
    rows whose first dial the provider holds."""
    raw = redis.Redis.from_url(REDIS_URL)  # dramatiq reads bytes
    broker = make_broker(raw, namespace)
    broker.declare_queue(DIAL_QUEUE)
    app = create_app(real_redis, namespace, dialer_secret=SECRET, outbox=BrokerOutbox(broker))
    producer: Producer = app.state.producer
    ws = producer.workspaces.create("w", 5, ["+12125550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=3, cap=1, schedule=None))
    producer.set_paused(ws["workspaceId"], job["id"], False)
    dialer = HangingDialer(handoff=True)
    engine = Engine(real_redis, producer.keys, dialer, RecordingOutbox(), Timing())
    engine.pump(ws["workspaceId"], job["id"])
    assert engine.dial(ws["workspaceId"], job["id"], 0) == "ok"
    try:
        with TestClient(app) as client:
            yield {
                "api": client,
                "ws_id": ws["workspaceId"],
                "job_id": job["id"],
                "dial_id": dialer.requests[0].dial_id,
                "producer": producer,
                "broker": broker,
                "raw": raw,
            }
    finally:
        raw.close()


def post(api: TestClient, dial_id: str, status: str) -> Any:
    body = json.dumps({"status": status}).encode()
    return api.post(
        f"/api/dials/{dial_id}/status",
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(SECRET, dial_id, body)},
    )


def test_an_end_puts_the_next_rows_dial_message_on_the_broker(setup: dict[str, Any]) -> None:
    """The end of row 0's call releases row 1 into the freed slot: its dial message is on
    the dial queue, as dramatiq's enqueue writes it (a dramatiq consumer takes it and it
    decodes to the dial actor's message for row 1), and the bell is rung. The same
    callback again sends nothing more."""
    raw: redis.Redis = setup["raw"]
    keys = setup["producer"].keys
    assert raw.llen(keys.dial_queue) == 0
    assert post(setup["api"], setup["dial_id"], "completed").json()["changed"] is True
    assert raw.llen(keys.dial_queue) == 1
    assert raw.llen(keys.dial_bell) == 1
    assert post(setup["api"], setup["dial_id"], "completed").json()["changed"] is False
    assert raw.llen(keys.dial_queue) == 1

    consumer = setup["broker"].consume(DIAL_QUEUE, prefetch=1, timeout=1000)
    try:
        deadline = time.monotonic() + 5
        proxy = None
        while proxy is None and time.monotonic() < deadline:
            proxy = next(consumer)
        assert proxy is not None, "a dramatiq consumer took no message"
        message: dramatiq.Message[Any] = proxy._message
        assert message.actor_name == DIAL_ACTOR
        assert message.queue_name == DIAL_QUEUE
        assert list(message.args) == [setup["ws_id"], setup["job_id"], 1]
        assert message.kwargs == {}
        assert message.options["redis_message_id"] == message.message_id
        # Redis's clock, in ms, as dramatiq stamps it (AgeLimit reads it).
        assert abs(message.message_timestamp - time.time() * 1000) < 60_000
        consumer.ack(proxy)
    finally:
        consumer.close()
    assert raw.hlen(keys.dial_messages) == 0  # acked: dramatiq dropped it
