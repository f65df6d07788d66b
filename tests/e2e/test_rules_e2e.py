"""Issue 19 end to end: a telemarketing job under us-tcpa with local caller IDs, through
the HTTP API with a real API process and a real worker on a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from tests.integration.test_rules_engine import NIGHT, NOON, WRITTEN, zone_at
from tests.support.http import read_all
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory
from tests.support.tcpa_oracle import allowed
from tests.support.waits import wait_for

pytestmark = pytest.mark.e2e


def test_telemarketing_job_under_us_tcpa_with_local_caller_ids(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """A row without written consent is refused by name; then a New York and a Chicago
    recipient at their noon are called from the pool's New York (same state) and Chicago
    (same area code) numbers, with their consent in each dial and dial.started, while a
    row at 3 a.m. waits for the federal rule with the instant it opens."""
    env = env_for(namespace, REDIS_URL, BATCHDIAL_SIMULATED_CALL_SECONDS="0.05")
    now = datetime.now(UTC)
    noon, night = zone_at(NOON, now), zone_at(NIGHT, now)
    rows = [
        {"toNumber": "+19175550601", "timezone": noon, "consent": WRITTEN},
        {"toNumber": "+13125550602", "timezone": noon, "consent": WRITTEN},
        {"toNumber": "+12065550603", "timezone": night, "consent": WRITTEN},
    ]
    with start_stack(env, threads=4, dial_limit=5, per_number=5) as stack:
        http = stack.http
        fields = {"callingRules": "us-tcpa", "purpose": "telemarketing", "callerId": "local"}
        refused = http.post(
            "/api/batch_dial_jobs",
            json=stack.body([*rows, {"toNumber": "+19175550604"}], 3, **fields),
        )
        assert refused.status_code == 422
        assert [d["path"] for d in refused.json()["error"]["details"]] == ["rows[3].consent"]
        job = stack.create_job(rows, 3, **fields)
        stack.start(job)
        stack.wait_finished(job, 2, 30)
        url = f"/api/batch_dial_jobs/{job['id']}"
        wait_for(lambda: len(read_all(http, f"{url}/queue")) == 1, 10, "queue")
        dials = {d["toNumber"]: d for d in read_all(http, f"{url}/dials")}
        (held,) = read_all(http, f"{url}/queue")
        events = [e for e in read_all(http, f"{url}/events") if e["type"] == "dial.started"]

    assert set(dials) == {"+19175550601", "+13125550602"}
    assert dials["+19175550601"]["fromNumber"] == "+12125550100"
    assert dials["+19175550601"]["callerIdRule"] == "local:state"
    assert dials["+13125550602"]["fromNumber"] == "+13125550100"
    assert dials["+13125550602"]["callerIdRule"] == "local:areaCode"
    assert all(d["consent"] == WRITTEN for d in dials.values())
    assert sorted(e["toNumber"] for e in events) == sorted(dials)
    assert all(e["consent"] == WRITTEN for e in events)
    assert held["toNumber"] == "+12065550603"
    assert held["waitingFor"] == "callingRules"
    assert held["heldBy"].startswith("us-tcpa WA (")
    opens = datetime.fromisoformat(held["nextEligibleAt"])
    assert allowed(opens, [night], "WA") and opens > now
