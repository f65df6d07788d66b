"""The in-process producer takes whatever redis client a service already has."""

from __future__ import annotations

import fakeredis
import pytest
import redis
import redis.asyncio

from config.redis import WrongRedisClient
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.redis_server import REDIS_URL


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "str"])
def test_a_plain_redis_client_creates_and_reads_jobs(
    real_redis: redis.Redis, namespace: str, decode: bool
) -> None:
    """Producer(redis.Redis.from_url(url), ns) works whether the client decodes or not
    (issue 18: the bytes client failed with KeyError 'name')."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=decode)
    producer = Producer(client, namespace)
    ws = producer.workspaces.create("Acme", 5, ["+12125550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=2))
    got = producer.get_job(ws["workspaceId"], job["id"])
    assert (got["name"], got["counts"]["rows"]) == (job["name"], 2)
    assert producer.workspaces.authenticate(ws["apiKey"]) == ws["workspaceId"]
    client.close()


def test_a_bytes_fakeredis_client_works_too() -> None:
    """The in-memory client, made without decode_responses, is accepted as well."""
    producer = Producer(fakeredis.FakeRedis(), "bdtest-fake")
    ws = producer.workspaces.create("Acme", 5, ["+12125550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=1))
    assert producer.get_job(ws["workspaceId"], job["id"])["status"] == "INIT"


def test_a_client_it_cannot_use_is_refused_with_what_to_pass() -> None:
    """An asyncio client is refused at construction with a message that says what to pass."""
    with pytest.raises(WrongRedisClient) as caught:
        Producer(redis.asyncio.Redis.from_url(REDIS_URL), "bdtest-x")  # type: ignore[arg-type]
    message = str(caught.value)
    assert "asyncio" in message
    assert "redis.Redis.from_url(url)" in message
