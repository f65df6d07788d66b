"""The Python client (batchdial.client) against a real ``batchdial api`` process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from batchdial.client import ApiError, AsyncClient, Client
from tests.support.bodies import rows_of, sample_job
from tests.support.procs import api_server, env_for, workspace
from tests.support.redis_server import REDIS_URL

pytestmark = pytest.mark.e2e


def test_the_client_drives_a_job_and_reads_it_back(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """create, get, list (every page), update, start, pause, resume, cancel, queue, dials,
    events and the workspace, each through its typed method, against the real API."""
    env = env_for(namespace, REDIS_URL)
    ws = workspace(env, dial_limit=5, per_number=2)
    pn = [p["id"] for p in ws["phoneNumbers"]]
    with (
        api_server(env, tmp_path / "api.log") as base,
        Client(base, api_key=ws["apiKey"], page_size=2) as client,
    ):
        jobs = [client.create_job({**sample_job(pn), "rows": rows_of(3)}) for _ in range(3)]
        assert [j["status"] for j in jobs] == ["INIT"] * 3
        # Three jobs at two a page: the iterator fetched a second page by itself.
        assert [j["id"] for j in client.list_jobs()] == [j["id"] for j in reversed(jobs)]
        job = jobs[0]
        assert client.get_job(job["id"])["counts"]["rows"] == 3
        assert client.update_job(job["id"], {"maxConcurrentDials": 2})["maxConcurrentDials"] == 2
        assert [r["index"] for r in client.queue(job["id"])] == [0, 1, 2]
        assert client.start_job(job["id"])["status"] == "ACTIVE"
        assert client.pause_job(job["id"])["status"] == "PAUSED"
        assert client.resume_job(job["id"])["status"] == "ACTIVE"
        assert client.cancel_job(job["id"])["status"] == "CANCELLED"
        assert client.cancel_job(job["id"])["status"] == "CANCELLED"  # a no-op
        types = [e["type"] for e in client.events(job["id"])]
        assert types[0] == "job.created"
        assert types[-1] == "job.cancelled"
        assert {"job.started", "job.paused", "job.resumed"} <= set(types)
        after = next(iter(client.events(job["id"])))["id"]
        assert [e["type"] for e in client.events(job["id"], after=after)] == types[1:]
        assert list(client.dials(job["id"])) == []  # no worker ran: nothing was dialed
        assert client.workspace()["dialLimit"] == 5
        assert client.ready()
        asyncio.run(_the_async_twin(base, ws["apiKey"], pn))


async def _the_async_twin(base: str, key: str, pn: list[str]) -> None:
    """The same steps through AsyncClient: create, list every page, start, events."""
    async with AsyncClient(base, api_key=key, page_size=2) as client:
        job = await client.create_job({**sample_job(pn), "rows": rows_of(2)})
        listed = [j["id"] async for j in client.list_jobs()]
        assert listed[0] == job["id"]
        assert len(listed) == 4  # the three of the sync client, then this one
        assert (await client.start_job(job["id"]))["status"] == "ACTIVE"
        assert (await client.cancel_job(job["id"]))["status"] == "CANCELLED"
        types = [e["type"] async for e in client.events(job["id"])]
        assert types == ["job.created", "job.started", "job.cancelled"]
        with pytest.raises(ApiError) as caught:
            await client.get_job("job_doesnotexist")
        assert caught.value.status == 404


def test_the_api_s_errors_arrive_as_api_error(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """An invalid create, an unknown job, a finished job's transition and a wrong key each
    raise ApiError with the status, code, message and details the API sent."""
    env = env_for(namespace, REDIS_URL)
    ws = workspace(env, dial_limit=5, per_number=2)
    pn = [p["id"] for p in ws["phoneNumbers"]]
    with (
        api_server(env, tmp_path / "api.log") as base,
        Client(base, api_key=ws["apiKey"]) as client,
    ):
        bad = {**sample_job(pn), "rows": [{"toNumber": "+1234567890"}]}
        with pytest.raises(ApiError) as caught:
            client.create_job(bad)
        assert caught.value.status == 422
        assert caught.value.code == "invalid_input"
        assert [d["path"] for d in caught.value.details] == ["rows[0].toNumber"]
        assert "too short" in caught.value.details[0]["message"]

        with pytest.raises(ApiError) as caught:
            client.get_job("job_doesnotexist")
        assert (caught.value.status, caught.value.code) == (404, "not_found")

        job = client.create_job(sample_job(pn))
        client.cancel_job(job["id"])
        with pytest.raises(ApiError) as caught:
            client.start_job(job["id"])
        assert (caught.value.status, caught.value.code) == (409, "conflict")
        assert caught.value.message

        with Client(base, api_key="bd_wrong") as stranger, pytest.raises(ApiError) as caught:
            stranger.get_job(job["id"])
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
