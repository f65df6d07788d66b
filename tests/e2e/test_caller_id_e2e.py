"""Issue 19 end to end, through the HTTP API with a real API process and real workers:
sticky caller IDs across two jobs, and the inbound reserve holding two jobs together
under the dial limit less the reserve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import redis

from tests.support.http import read_all
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory

pytestmark = pytest.mark.e2e


def _timeline(events: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """(time, +1 start / -1 end) of every dial; an end sorts first on a tie, since a
    freed slot is taken again in the same millisecond."""
    steps = []
    for e in events:
        if e["type"] == "dial.started":
            steps.append((datetime.fromisoformat(e["at"]).timestamp(), 1))
        elif e["type"] in ("dial.finished", "dial.withdrawn"):
            steps.append((datetime.fromisoformat(e["at"]).timestamp(), -1))
    return sorted(steps)


def test_sticky_numbers_across_jobs_and_the_inbound_reserve(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Dial limit 4 with 1 reserved for inbound: a cap of 4 is refused, two jobs of cap 3
    running at once never hold more than 3 calls together; with callerId sticky the second
    job calls each recipient from the number the first used."""
    env = env_for(namespace, REDIS_URL, BATCHDIAL_SIMULATED_CALL_SECONDS="0.25")
    with start_stack(env, threads=4, dial_limit=4, per_number=4) as stack:
        http = stack.http
        reserved = http.patch("/api/workspace", json={"reservedInboundDials": 1})
        assert reserved.status_code == 200, reserved.text
        pool = [n["id"] for n in stack.ws["phoneNumbers"]]
        assert len(pool) >= 2
        rows = [{"toNumber": f"+1646555{i:04d}"} for i in range(12)]
        refused = http.post(
            "/api/batch_dial_jobs",
            json=stack.body(rows, 4, fromPhoneNumberIds=pool),
        )
        assert refused.status_code in (409, 422), refused.text
        first = stack.create_job(rows, 3, fromPhoneNumberIds=pool, callerId="sticky")
        second = stack.create_job(rows, 3, fromPhoneNumberIds=pool, callerId="sticky")
        stack.start(first)
        stack.wait_status(first, "COMPLETE", 60)
        other = stack.create_job(rows, 3, fromPhoneNumberIds=pool)
        stack.start(second)
        stack.start(other)
        stack.wait_status(second, "COMPLETE", 60)
        stack.wait_status(other, "COMPLETE", 60)

        def dials(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
            url = f"/api/batch_dial_jobs/{job['id']}/dials"
            return {d["toNumber"]: d for d in read_all(http, url)}

        before, after = dials(first), dials(second)
        assert len(before) == len(after) == len(rows)
        assert {n: d["fromNumber"] for n, d in after.items()} == {
            n: d["fromNumber"] for n, d in before.items()
        }
        assert {d["callerIdRule"] for d in after.values()} == {"sticky"}
        assert len({d["fromNumber"] for d in before.values()}) >= 2  # spread on first use
        together = []
        for job in (second, other):
            together += read_all(http, f"/api/batch_dial_jobs/{job['id']}/events")
        live = peak = 0
        for _, step in _timeline(together):
            live += step
            peak = max(peak, live)
        assert peak <= 3
        assert peak >= 2  # the two jobs did run at once


def test_voicemail_actions_with_the_simulated_dialer(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Every call reaches a machine: `retry` dials each row again (the policy names
    voicemail), `hangup` once; a `leave_message` dial's context tells the agent so."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.05",
        BATCHDIAL_SIMULATED_OUTCOMES="voicemail=1",
    )
    with start_stack(env, threads=4, dial_limit=6, per_number=6) as stack:
        http = stack.http
        rows = [{"toNumber": f"+1646555{i:04d}"} for i in range(4)]
        policy = {"maxAttempts": 2, "on": ["voicemail"], "backoffSeconds": [0]}
        retried = stack.create_job(rows, 2, voicemail={"action": "retry"}, retry=policy)
        hung_up = stack.create_job(rows, 2, voicemail={"action": "hangup"})
        message = stack.create_job(rows[:1], 1, voicemail={"action": "leave_message"})
        for job in (retried, hung_up, message):
            stack.start(job)
        for job in (retried, hung_up, message):
            stack.wait_status(job, "COMPLETE", 60)

        def dials(job: dict[str, Any]) -> list[dict[str, Any]]:
            return read_all(http, f"/api/batch_dial_jobs/{job['id']}/dials")

        assert sorted(d["attempt"] for d in dials(retried)) == [1, 1, 1, 1, 2, 2, 2, 2]
        assert {d["status"] for d in dials(retried)} == {"voicemail"}
        assert [d["attempt"] for d in dials(hung_up)] == [1, 1, 1, 1]
        (left,) = dials(message)
        context = http.get(f"/api/dials/{left['dialId']}").json()
        assert context["voicemail"] == "leave_message"
        assert context["status"] == "voicemail"
