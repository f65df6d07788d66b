"""Pacing on a real Redis, one engine in this process: the claim's GCRA refusal (row kept
released, the wait in the reply, the queue's ``waitingFor: pacing``), the pacer's retry
at the conforming instant, the global limit across workspaces, and the workspace
setting of ``GET/PATCH /api/workspace``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.pacing import interval_us, tolerance_us
from domain.pagination import collect
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.engine import HangingDialer
from tests.support.http import assert_error, h
from tests.support.waits import wait_for
from worker.engine.core import Engine
from worker.engine.timing import Timing
from worker.metrics import PACING_REFUSALS

WS = "/api/workspace"
RATE = "maxDialsPerSecond"
Make = Callable[..., dict[str, Any]]


class NullOutbox:
    def send_pump(self, ws_id: str, job_id: str) -> None:
        pass

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        pass

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        pass


@pytest.fixture
def producer(real_redis: redis.Redis, namespace: str) -> Producer:
    return Producer(real_redis, namespace)


@pytest.fixture
def engines(real_redis: redis.Redis, producer: Producer) -> Iterator[Callable[..., Engine]]:
    built: list[Engine] = []

    def make(timing: Timing | None = None) -> Engine:
        engine = Engine(real_redis, producer.keys, HangingDialer(), NullOutbox(), timing)
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()


def started_job(producer: Producer, ws: dict[str, Any], rows: int) -> str:
    job = producer.create_job(
        ws["workspaceId"], job_body(ws, rows=rows, schedule=None, maxConcurrentDials=rows)
    )
    producer.set_paused(ws["workspaceId"], job["id"], False)
    return str(job["id"])


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def refusals(limit: str) -> float:
    return float(PACING_REFUSALS.labels(limit)._value.get())


def test_a_paced_row_stays_released_says_pacing_and_is_dialed_when_a_start_conforms(
    real_redis: redis.Redis, producer: Producer, engines: Callable[..., Engine]
) -> None:
    """At 2 a second the first claim starts; the second is refused with the wait until a
    start conforms, its row stays released (the queue says pacing) and the engine's pacer
    claims it then; any 3 starts span at least a second."""
    ws = producer.workspaces.create("w", 10, ["+12125550100"], None)
    ws_id = ws["workspaceId"]
    producer.update_workspace(ws_id, {RATE: 2})
    job_id = started_job(producer, ws, rows=3)
    engine = engines()
    engine.pump(ws_id, job_id)
    before = refusals("workspace")
    assert engine.dial(ws_id, job_id, 0) == "ok"
    assert engine.dial(ws_id, job_id, 1) == "paced"
    assert engine.dial(ws_id, job_id, 2) == "paced"
    assert refusals("workspace") == before + 2
    keys = producer.keys
    assert real_redis.zscore(keys.released(ws_id, job_id), "1") is not None
    assert real_redis.zscore(keys.paced(ws_id, job_id), "1") is not None
    queue = collect(lambda **kw: producer.queue(ws_id, job_id, **kw))
    assert [row["waitingFor"] for row in queue] == ["pacing", "pacing"]

    wait_for(lambda: len(engine.dialer.requests) == 3, 5, "the pacer to dial both")  # type: ignore[attr-defined]
    dials = collect(lambda **kw: producer.dials(ws_id, job_id, **kw))
    times = sorted(d["startedAt"] for d in dials)
    gap_us = interval_us(2) - tolerance_us(2)
    assert real_redis.zcard(keys.paced(ws_id, job_id)) == 0
    assert collect(lambda **kw: producer.queue(ws_id, job_id, **kw)) == []
    first, second, third = (_ms(t) for t in times)
    assert second - first >= gap_us // 1000
    assert third - first >= 1000, "3 starts at 2 a second span a second"


def test_the_global_limit_counts_every_workspace(
    producer: Producer, engines: Callable[..., Engine]
) -> None:
    """BATCHDIAL_MAX_DIALS_PER_SECOND (Timing.max_dials_per_second) is one limit for all
    workspaces: a start in one puts off the next in another."""
    first = producer.workspaces.create("a", 10, ["+12125550100"], None)
    second = producer.workspaces.create("b", 10, ["+12125550101"], None)
    jobs = [(ws["workspaceId"], started_job(producer, ws, rows=1)) for ws in (first, second)]
    engine = engines(Timing(max_dials_per_second=1))
    for ws_id, job_id in jobs:
        engine.pump(ws_id, job_id)
    before = refusals("global")
    assert engine.dial(*jobs[0], 0) == "ok"
    assert engine.dial(*jobs[1], 0) == "paced"
    assert refusals("global") == before + 1
    wait_for(lambda: len(engine.dialer.requests) == 2, 5, "the second workspace's dial")  # type: ignore[attr-defined]


def test_no_limit_and_null_mean_no_pacing(
    producer: Producer, engines: Callable[..., Engine]
) -> None:
    """Without a limit, or after PATCH null, claims start back to back."""
    ws = producer.workspaces.create("w", 10, ["+12125550100"], None)
    ws_id = ws["workspaceId"]
    producer.update_workspace(ws_id, {RATE: 1})
    producer.update_workspace(ws_id, {RATE: None})
    job_id = started_job(producer, ws, rows=3)
    engine = engines()
    engine.pump(ws_id, job_id)
    assert [engine.dial(ws_id, job_id, i) for i in range(3)] == ["ok", "ok", "ok"]


def test_get_and_patch_the_rate(api: TestClient, make_workspace: Make) -> None:
    """GET shows maxDialsPerSecond (null = off); PATCH sets it and null turns it off."""
    ws = make_workspace()
    assert api.get(WS, headers=h(ws)).json()[RATE] is None
    for value in (1, 1000, 30):
        answer = api.patch(WS, json={RATE: value}, headers=h(ws))
        assert answer.status_code == 200, answer.text
        assert answer.json()[RATE] == value
    assert api.get(WS, headers=h(ws)).json()[RATE] == 30
    assert api.patch(WS, json={RATE: None}, headers=h(ws)).json()[RATE] is None


# 2.0 is the integer 2 (JSON Schema's integer), as in every integer field.
@pytest.mark.parametrize("value", [0, -1, 1001, "5", 5.5, True, [], {}])
def test_invalid_rates_are_422_naming_the_field(
    api: TestClient, make_workspace: Make, value: Any
) -> None:
    """Like maxCallsPerNumberPerDay: an integer 1-1000, strictly; the error names it."""
    ws = make_workspace()
    api.patch(WS, json={RATE: 7}, headers=h(ws))
    error = assert_error(api.patch(WS, json={RATE: value}, headers=h(ws)), 422, "invalid_input")
    assert [d["path"] for d in error["details"]] == [RATE]
    assert api.get(WS, headers=h(ws)).json()[RATE] == 7
