"""Fault: Redis reaches ``maxmemory`` (policy ``noeviction``) while a job runs.

The test runs its own ``redis-server`` (free loopback port), a real ``batchdial api``
and a real worker. Jobs are created until Redis refuses one; then writes must answer
503 ``storage_full``, reads 200, /readyz 503 naming it, and /metrics must show it;
nothing half-stored is visible; once maxmemory is raised the running job completes
with every row dialed once, by the worker that lived through it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from redis.client import Pipeline

from domain.keys import Keys
from domain.storage import is_storage_full, read_memory, snapshot
from producer.jobs import STAGING_TTL_S
from tests.faults.helpers import dial_report, log_events, log_problems, wait_status
from tests.support.http import assert_error, h, job_url, producer_of, read_all
from tests.support.procs import env_for
from tests.support.redis_server import own_redis
from tests.support.stack import StackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROWS, CAP, CALL_S = 150, 3, "0.3"
#: Rows of each create that fills Redis: three pipelined chunks of 5,000, so that a
#: create can be refused midway, after some of its rows were staged.
FILL_ROWS = 12_000
#: Memory left for the fill above what Redis uses once the job runs.
HEADROOM_BYTES = 4 * 1024 * 1024
#: How far under what is used the limit is put once a create was refused.
OVER_BYTES = 1024 * 1024
MAX_FILLS = 20
JOBS = "/api/batch_dial_jobs"


def _fill_rows(n: int, salt: int) -> list[dict[str, Any]]:
    return [{"toNumber": f"+121255{i:05d}", "inputs": {"k": f"v{salt}-{i}"}} for i in range(n)]


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


def _staged_keys(admin: redis.Redis, keys: Keys, ws_id: str, jobs: list[str]) -> list[str]:
    """Rows and queue keys of jobs that are not in the list: a refused create's."""
    visible = {k for j in jobs for k in (keys.rows(ws_id, j), keys.queue(ws_id, j))}
    found = set()
    for pattern in (keys.rows(ws_id, "*"), keys.queue(ws_id, "*")):
        found |= {str(k) for k in admin.scan_iter(match=pattern, count=1000)}
    return sorted(found - visible)


@pytest.mark.timeout(150)
def test_redis_full_refuses_writes_keeps_reads_and_recovers(
    namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """Fill Redis with creates until one is refused; then writes answer 503
    storage_full and change nothing, every read answers 200, /readyz 503 storage_full,
    batchdial_storage_full is 1; no refused create is visible and its staged rows
    expire; raising maxmemory lets the running job complete, each row dialed once."""
    with own_redis(tmp_path / "redis") as server:
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        env = env_for(
            namespace,
            server.url,
            BATCHDIAL_SIMULATED_CALL_SECONDS=CALL_S,
            BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        with start_stack(env, workers=1, dial_limit=CAP, per_number=CAP, timeout=30) as stack:
            http, worker = stack.http, stack.workers[0]
            job = stack.create_job(rows=ROWS, cap=CAP)
            stack.start(job)
            stack.wait_finished(job, CAP * 2, 30)  # the job is under way
            used = int(admin.info("memory")["used_memory"])
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", str(used + HEADROOM_BYTES))

            began = time.monotonic()
            created: list[str] = []
            refused: httpx.Response | None = None
            for i in range(MAX_FILLS):
                answer = http.post(JOBS, json=stack.body(_fill_rows(FILL_ROWS, i), cap=1))
                if answer.status_code != 201:
                    refused = answer
                    break
                created.append(answer.json()["id"])
            assert refused is not None, f"Redis never refused a create in {MAX_FILLS}"
            fill_s = time.monotonic() - began
            info = admin.info("memory")
            error = assert_error(refused, 503, "storage_full")
            assert "maxmemory" in error["message"]
            full_at = stack.job(job)["counts"]
            assert full_at["finished"] < ROWS, "the job ended before Redis was full"
            # Right after a refused create Redis sits just under the limit (the refused
            # request's buffers are freed) and a small write may pass: put the limit
            # under what is used, so that every write is refused from now on.
            admin.config_set("maxmemory", str(int(info["used_memory"]) - OVER_BYTES))

            # Writes: 503 storage_full, and they change nothing.
            writes = {
                "create": http.post(JOBS, json=stack.body(3, cap=1)),
                "pause": http.post(f"{job_url(job)}/paused", json={"paused": True}),
                "update": http.put(job_url(job), json={"name": "renamed"}),
                "cancel": http.post(f"{job_url(job)}/cancel"),
            }
            for answer in writes.values():
                assert_error(answer, 503, "storage_full")
            # Reads keep working.
            paths = [job_url(job), JOBS, *(f"{job_url(job)}/{p}" for p in ("queue", "dials"))]
            paths += [f"{job_url(job)}/events", "/api/workspace", "/api/suppressions"]
            reads = {path: http.get(path) for path in paths}
            failed = {p: r.text[:300] for p, r in reads.items() if r.status_code != 200}
            assert not failed
            assert reads[job_url(job)].json()["status"] == "ACTIVE"
            assert reads[job_url(job)].json()["name"] != "renamed"
            ready = http.get("/readyz")
            assert_error(ready, 503, "storage_full")
            # The load balancer's probe keeps the API in service: it can still serve.
            serving = http.get("/readyz", params={"serving": "true"})
            assert (serving.status_code, serving.json()) == (200, {"status": "storage_full"})
            metrics = http.get("/metrics").text
            assert _metric(metrics, "batchdial_storage_full") == 1
            used_now = _metric(metrics, "batchdial_redis_memory_used_bytes") or 0
            limit = _metric(metrics, "batchdial_redis_memory_max_bytes") or 0
            ratio = used_now / limit if limit else 0
            assert ratio > 1

            # Nothing half-stored is visible: the list holds the job and the creates that
            # answered 201; the refused create's staged rows, if any, expire.
            listed = [j["id"] for j in read_all(http, JOBS)]
            assert sorted(listed) == sorted([job["id"], *created])
            staged = _staged_keys(admin, Keys(namespace), stack.ws["workspaceId"], listed)
            ttls = [int(admin.ttl(key)) for key in staged]
            assert all(0 < ttl <= STAGING_TTL_S for ttl in ttls), (staged, ttls)

            # Free memory: the job goes on to completion; the worker lived through it.
            alive_when_full = worker.poll() is None
            when_freed = stack.job(job)["counts"]
            admin.config_set("maxmemory", "0")
            took = wait_status(http, job, "COMPLETE", 40)
            counts = stack.job(job)["counts"]
            report = dial_report(http, job)
            ready_after = http.get("/readyz").status_code
            full_after = _metric(http.get("/metrics").text, "batchdial_storage_full")
            alive = worker.poll() is None
        admin.close()
    api_problems = log_problems(tmp_path / "api.log")
    print(
        f"\nredis full: {len(created)} create(s) of {FILL_ROWS} rows stored in {fill_s:.1f}s "
        f"before one was refused ({refused.status_code} {error['code']}); used_memory "
        f"{used} before the fill, {info['used_memory']} of maxmemory {info['maxmemory']} at the "
        f"refusal; job {full_at['finished']}/"
        f"{ROWS} finished when full, {when_freed['finished']} when freed; writes "
        f"{ {k: a.status_code for k, a in writes.items()} }, reads all 200; /readyz "
        f"{ready.status_code}; used ratio {ratio:.3f}; staged keys of the refused create "
        f"{len(staged)} (TTLs {ttls}); worker alive while full {alive_when_full}; job "
        f"COMPLETE {took:.1f}s after maxmemory was raised; statuses {dict(report['statuses'])}"
        f"; /readyz then {ready_after}; worker log events "
        f"{dict(log_events(tmp_path / 'w1.log'))}; api log problems "
        f"{Counter(p[:80] for p in api_problems)}"
    )
    assert alive_when_full and alive
    assert counts["finished"] == ROWS
    assert report["rows_dialed"] == ROWS and report["rows_dialed_twice"] == []
    assert report["unfinished"] == []
    assert ready_after == 200 and full_after == 0
    assert api_problems == []  # 503s, not stack traces


#: What Redis answers a refused write: redis-py's own class (Redis 7, also from inside
#: a script), and the text a Redis 6 script error carries.
OOM_REFUSALS = [
    redis.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    redis.ResponseError(
        "Error running script (call to f_0a1b): @user_script:12: -OOM command not allowed"
        " when used memory > 'maxmemory'."
    ),
]


@pytest.mark.parametrize("refusal", OOM_REFUSALS, ids=["OutOfMemoryError", "script-error"])
def test_a_refused_write_answers_503_storage_full(
    api: TestClient, make_workspace: Callable[..., dict[str, Any]], refusal: redis.ResponseError
) -> None:
    """A write refused for memory, by a command or inside a Lua script, answers 503
    storage_full with what an operator can do; another refusal is not storage_full."""
    ws = make_workspace()
    producer = producer_of(api)

    def refuse(ws_id: str, job_id: str) -> dict[str, Any]:
        raise refusal

    producer.cancel_job = refuse  # type: ignore[method-assign]
    answer = api.post("/api/batch_dial_jobs/job_0/cancel", headers=h(ws))
    error = assert_error(answer, 503, "storage_full")
    assert "maxmemory" in error["message"] and "no effect" in error["message"]
    assert not is_storage_full(redis.ResponseError("WRONGTYPE Operation against a key"))


def test_reads_fall_back_when_redis_refuses_multi(tmp_path: Path) -> None:
    """Over maxmemory Redis refuses MULTI even for reads; :func:`snapshot` answers the
    same reads through a plain pipeline, and a write through it is still refused."""
    with own_redis(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.hset("h", mapping={"a": "1"})
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")  # far under what an empty Redis uses

        def reads(pipe: Pipeline) -> None:
            pipe.hgetall("h")
            pipe.zcard("z")

        with client.pipeline(transaction=True) as pipe:
            reads(pipe)
            with pytest.raises(redis.OutOfMemoryError):
                pipe.execute()
        assert snapshot(client, reads) == [{"a": "1"}, 0]
        with pytest.raises(redis.OutOfMemoryError):
            snapshot(client, lambda p: p.set("k", "v"))
        memory = read_memory(client)
        assert memory is not None and memory.full and (memory.ratio or 0) > 1
        client.config_set("maxmemory", "0")
        memory = read_memory(client)
        assert memory is not None and not memory.full and memory.ratio is None
        client.close()
