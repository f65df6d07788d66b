"""BATCHDIAL_REDIS_MIN_REPLICAS (SPEC §8.6) on a redis-server of the test's own: a claim
no replica acknowledged places no call and puts its row back; with a replica it dials;
an end too few replicas acknowledged is recorded on the primary and reported as Redis
away (the worker retries it, the API answers 503)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.client import Pipeline

from config.redis import make_redis
from domain.dials import DialEnds, DialRef, new_dial_id
from domain.metrics import REPLICA_WAITS_FAILED
from domain.replicas import ReplicaWaitError, run_durable
from producer.service import Producer
from producer.validation import Limits
from tests.support.bodies import job_body
from tests.support.engine import HangingDialer, RecordingOutbox
from tests.support.failover import Node
from tests.support.redis_server import sem_members
from tests.support.waits import wait_until
from worker.engine.core import Engine
from worker.engine.timing import Timing

pytestmark = [pytest.mark.redis]
NS = "replicated"


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path, "primary")
    node.start()
    try:
        yield node
    finally:
        node.stop()


def _job(producer: Producer, ws: dict[str, str]) -> str:
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=2, schedule=None))
    producer.set_paused(ws["workspaceId"], job["id"], False)
    return str(job["id"])


def _replica_of(tmp_path: Path, primary: Node) -> Node:
    node = Node(tmp_path, "replica", "--replicaof", "127.0.0.1", str(primary.port))
    node.start()
    # Connected is not enough: WAIT counts a replica only once its first sync is done
    # (state online), and under load that sync can outlast a claim's wait.
    wait_until(lambda: _online(primary), 20, "the replica to finish its first sync")
    return node


def _online(primary: Node) -> bool:
    info = primary.client().info("replication")
    replica = info.get("slave0")
    return (
        info.get("connected_slaves") == 1
        and isinstance(replica, dict)
        and (replica.get("state") == "online")
    )


def test_a_claim_no_replica_has_places_no_call_and_a_replica_lets_it_dial(
    tmp_path: Path, primary: Node
) -> None:
    client = make_redis(primary.url)
    producer = Producer(client, NS, Limits(max_rows=10))
    ws = producer.workspaces.create("ws", 5, ["+12125550100"], None)
    job_id = _job(producer, ws)
    dialer = HangingDialer(handoff=True)
    engine = Engine(
        client, producer.keys, dialer, RecordingOutbox(), Timing(lease_ms=5000, min_replicas=1)
    )
    failed = REPLICA_WAITS_FAILED.labels("claim")._value.get()
    engine.pump(ws["workspaceId"], job_id)
    assert engine.dial(ws["workspaceId"], job_id, 0) == "unreplicated"
    assert dialer.requests == []  # no call placed
    assert REPLICA_WAITS_FAILED.labels("claim")._value.get() == failed + 1
    assert sem_members(client, NS) == 0  # its slots are free again
    types = [e["type"] for e in _events(producer, ws, job_id)]
    assert types.count("dial.started") == 1 and types.count("dial.withdrawn") == 1
    view = producer.get_job(ws["workspaceId"], job_id)["counts"]
    assert view["inProgress"] == 0 and view["finished"] == 0  # the row is back, not failed

    replica = _replica_of(tmp_path, primary)
    try:
        assert engine.dial(ws["workspaceId"], job_id, 1) == "ok"
        assert len(dialer.requests) == 1
        dial_id = dialer.requests[0].dial_id
        # The claim is on the replica before the call was placed.
        dial_key = producer.keys.dial(ws["workspaceId"], dial_id)
        assert replica.client().hget(dial_key, "status") is not None
        number_id = client.hget(dial_key, "fromNumberId")
        ref = DialRef(ws["workspaceId"], job_id, dial_id, str(number_id))
        # Two replicas wanted, one there: the end is recorded, and reported as not safe.
        with pytest.raises(ReplicaWaitError) as info:
            DialEnds(client, producer.keys, min_replicas=2).finish(ref, "completed")
        assert isinstance(info.value, redis.ConnectionError)
        assert (info.value.acked, info.value.wanted) == (1, 2)
        # Ending is idempotent: retried with the replica there, it is safe ("already").
        again = DialEnds(client, producer.keys, min_replicas=1).finish(ref, "completed")
        assert again.outcome != "finished"
    finally:
        replica.stop()
        client.close()


def _events(producer: Producer, ws: dict[str, str], job_id: str) -> list[dict[str, object]]:
    from domain.pagination import collect

    return collect(lambda **kw: producer.events(ws["workspaceId"], job_id, **kw))


def test_a_replicated_write_survives_a_primary_without_its_script(
    tmp_path: Path, primary: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a failover does to a pipeline: its scripts were checked on the old primary,
    it runs on the new one, which never saw them (NOSCRIPT): loaded and run again."""
    replica = _replica_of(tmp_path, primary)
    client = make_redis(primary.url)
    try:
        # The pipeline's own check (SCRIPT EXISTS, then LOAD) happens "before the
        # failover": skipped here, and the primary forgets every script.
        monkeypatch.setattr(Pipeline, "load_scripts", lambda self: None)
        client.script_flush()
        echo = "return ARGV[1]"
        reply = run_durable(
            client, client.register_script(echo), [], ["hi"], write="claim", replicas=1
        )
        assert reply == "hi"
    finally:
        replica.stop()
        client.close()


def test_a_claim_sent_again_after_a_lost_answer_is_undone(primary: Node) -> None:
    """redis-py resends a command whose answer a connection error lost: the second claim
    finds the row gone (the first took it). The claim is undone, not left to lapse."""
    client = make_redis(primary.url)
    try:
        producer = Producer(client, NS, Limits(max_rows=10))
        ws = producer.workspaces.create("ws", 5, ["+12125550100"], None)
        job_id = _job(producer, ws)
        ws_id = ws["workspaceId"]
        engine = Engine(
            client, producer.keys, HangingDialer(), RecordingOutbox(), Timing(lease_ms=5000)
        )
        engine.pump(ws_id, job_id)
        config = engine.configs.get(ws_id, job_id)
        assert config is not None
        template = new_dial_id(job_id, 0, "{attempt}", "feedc0de")
        first = engine.dialing._claim(ws_id, job_id, 0, template, config=config)
        assert first.outcome == "ok"
        again = engine.dialing._claim(ws_id, job_id, 0, template, config=config)
        assert again.outcome == "unreplicated"
        assert client.hget(producer.keys.dialing(ws_id, job_id), "0") is None
        assert sem_members(client, NS) == 0
        types = [e["type"] for e in _events(producer, ws, job_id)]
        assert types.count("dial.withdrawn") == 1
        # Another claim's token finding the row gone is left alone (a duplicate message).
        other = new_dial_id(job_id, 1, "{attempt}", "0ther0ne")
        engine.pump(ws_id, job_id)
        assert engine.dialing._claim(ws_id, job_id, 1, other, config=config).outcome == "ok"
        dup = new_dial_id(job_id, 1, "{attempt}", "d0ublemsg")
        assert engine.dialing._claim(ws_id, job_id, 1, dup, config=config).outcome == "gone"
        assert client.hget(producer.keys.dialing(ws_id, job_id), "1") is not None
    finally:
        client.close()
