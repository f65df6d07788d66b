"""``batchdial jobs append|export|retry`` and the client's ``append_rows``/``results``/
``retry_job``: the routes of rows after create, results and retry (issue 17)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
import redis

from batchdial.client import Client
from tests.support.procs import batchdial, env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory

pytestmark = pytest.mark.e2e

FIRST = "toNumber,externalId,customer_name\n+12125550123,c1,John\n+12125550124,c2,Jane\n"
MORE = "toNumber,externalId,customer_name\n+12125550124,c2,Jane\n+12125550125,c3,Max\n"


def _jobs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return batchdial("jobs", *args, env=env, timeout=60)


def test_append_export_and_retry_from_the_cli(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory, tmp_path: Path
) -> None:
    """append adds only new externalIds; every call ends busy; export writes one CSV line
    per row; retry --outcome busy reopens the job, and watch follows it to COMPLETE again."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.05",
        BATCHDIAL_SIMULATED_OUTCOMES="busy=1",
    )
    stack = start_stack(env, threads=4)
    client_env = {**env, "BATCHDIAL_API_URL": stack.base, "BATCHDIAL_API_KEY": stack.ws["apiKey"]}
    first, more = tmp_path / "first.csv", tmp_path / "more.csv"
    first.write_text(FIRST)
    more.write_text(MORE)
    pool = stack.ws["phoneNumbers"][0]["id"]
    created = _jobs(
        "create", "--csv", str(first), "--agent", "a", "--cap", "2", "--pool", pool, env=client_env
    )
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.strip()
    appended = _jobs("append", job_id, "--csv", str(more), "--json", env=client_env)
    assert appended.returncode == 0, appended.stderr
    answer = json.loads(appended.stdout)
    assert (answer["appended"], answer["duplicates"]) == (1, 1)

    assert _jobs("start", job_id, env=client_env).returncode == 0
    assert _jobs("watch", job_id, "--interval", "0.2", env=client_env).returncode == 0

    out = tmp_path / "results.csv"
    exported = _jobs("export", job_id, "--format", "csv", "-o", str(out), env=client_env)
    assert exported.returncode == 0, exported.stderr
    lines = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted(r["externalId"] for r in lines) == ["c1", "c2", "c3"]
    assert {r["outcome"] for r in lines} == {"busy"}

    retried = _jobs("retry", job_id, "--outcome", "busy", "--json", env=client_env)
    assert retried.returncode == 0, retried.stderr
    assert _jobs("watch", job_id, "--interval", "0.2", env=client_env).returncode == 0
    ndjson = _jobs("export", job_id, "--format", "ndjson", env=client_env).stdout
    assert sorted(json.loads(line)["attempts"] for line in ndjson.splitlines()) == [2, 2, 2]


def test_the_client_appends_and_reads_results(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Client.append_rows (JSON and CSV) and Client.results, one result per row."""
    env = env_for(namespace, REDIS_URL)
    stack = start_stack(env, workers=0)
    pool = [stack.ws["phoneNumbers"][0]["id"]]
    body = {"name": "n", "callAgentId": "a", "maxConcurrentDials": 1, "fromPhoneNumberIds": pool}
    with Client(stack.base, api_key=stack.ws["apiKey"]) as client:
        job = client.create_job({**body, "rows": [{"toNumber": "+12125550123"}]})
        added = client.append_rows(job["id"], [{"toNumber": "+12125550124", "externalId": "x"}])
        assert added["appended"] == 1
        added = client.append_rows(job["id"], csv="toNumber\n+12125550125\n")
        assert added["appended"] == 1
        client.cancel_job(job["id"])
        results = list(client.results(job["id"]))
        assert len(results) == 3
        assert {r["toNumber"] for r in results} == {"+12125550123", "+12125550124", "+12125550125"}
