"""A carrier's callback ends the dial and refills its slot in one step: the script that
records the end pushes the released row onto the refill list (``finish_dial.lua``), a
worker waiting on the list dials it at once (``worker/engine/refills.py``), and a row
whose item was lost with its worker is dialed by the scheduler's stale release, once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from config.broker import DIAL_QUEUE, BrokerOutbox, make_broker
from domain.signing import SIGNATURE_HEADER, sign
from producer.http.app import create_app
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.engine import HangingDialer, RecordingOutbox
from tests.support.redis_server import REDIS_URL
from worker.engine.core import Engine
from worker.engine.refills import RefillTaker
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
    outbox = RecordingOutbox()
    engine = Engine(real_redis, producer.keys, dialer, outbox, Timing(stale_release_ms=300))
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
                "raw": raw,
                "engine": engine,
                "dialer": dialer,
                "outbox": outbox,
                "redis": real_redis,
            }
    finally:
        engine.close()
        raw.close()


def post(api: TestClient, dial_id: str, status: str) -> Any:
    body = json.dumps({"status": status}).encode()
    return api.post(
        f"/api/dials/{dial_id}/status",
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(SECRET, dial_id, body)},
    )


def test_an_end_pushes_the_next_row_onto_the_refill_list(setup: dict[str, Any]) -> None:
    """The end of row 0's call releases row 1 into the freed slot: the row is on the
    refill list, and no dial message is on the broker. The same callback again pushes
    nothing more."""
    r: redis.Redis = setup["redis"]
    keys = setup["producer"].keys
    refills = keys.ns_key("K_REFILLS")
    assert post(setup["api"], setup["dial_id"], "completed").json()["changed"] is True
    assert r.lrange(refills, 0, -1) == [f"{setup['ws_id']}|{setup['job_id']}|1"]
    assert setup["raw"].llen(keys.dial_queue) == 0
    assert post(setup["api"], setup["dial_id"], "completed").json()["changed"] is False
    assert r.llen(refills) == 1


def test_a_worker_waiting_on_the_list_dials_the_refill_at_once(setup: dict[str, Any]) -> None:
    """A worker's taker blocked on the list wakes when the callback pushes row 1 and
    dials it: the provider gets row 1's request, and the list is empty."""
    engine: Engine = setup["engine"]
    taker = RefillTaker(setup["redis"], setup["producer"].keys, engine.dial_rows)
    taker.start()
    try:
        time.sleep(0.1)  # the taker is waiting
        assert post(setup["api"], setup["dial_id"], "completed").json()["changed"] is True
        dialer: HangingDialer = setup["dialer"]
        deadline = time.monotonic() + 5
        while len(dialer.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [q.row_id for q in dialer.requests] == [
            f"{setup['job_id']}.0",
            f"{setup['job_id']}.1",
        ]
    finally:
        taker.stop()
    assert setup["redis"].llen(setup["producer"].keys.ns_key("K_REFILLS")) == 0


def test_a_refill_lost_with_its_worker_is_dialed_by_the_scheduler_once(
    setup: dict[str, Any],
) -> None:
    """A worker took row 1's item and died before claiming it: the row stays released
    until the scheduler's stale release (300 ms here) sends it again as a dial message.
    That message dials it; the lost item, had it come back late, is refused."""
    r: redis.Redis = setup["redis"]
    keys = setup["producer"].keys
    engine: Engine = setup["engine"]
    ws_id, job_id = setup["ws_id"], setup["job_id"]
    assert post(setup["api"], setup["dial_id"], "completed").json()["changed"] is True
    item = r.lpop(keys.ns_key("K_REFILLS"))  # taken by a worker that then died
    assert item == f"{ws_id}|{job_id}|1"
    outbox: RecordingOutbox = setup["outbox"]
    outbox.dials.clear()
    assert engine.pump(ws_id, job_id) == "open"
    assert outbox.dials == []  # not stale yet
    time.sleep(0.4)
    assert engine.pump(ws_id, job_id) == "open"
    assert outbox.dials == [(ws_id, job_id, 1)]
    assert engine.dial(ws_id, job_id, 1) == "ok"
    r.rpush(keys.ns_key("K_REFILLS"), item)  # the lost item, late
    taker = RefillTaker(r, keys, engine.dial_rows)
    assert taker.take_once(wait_s=1) == 1  # dialed (and refused) on this thread
    rows = [q.row_id for q in setup["dialer"].requests]
    assert rows == [f"{job_id}.0", f"{job_id}.1"]
