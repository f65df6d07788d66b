"""Issue 19 end to end: numbers, health, quarantine and keys through the HTTP API,
with a real API process and a real worker (the simulated dialer never answered)."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import redis

from tests.support.http import read_all
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory
from tests.support.waits import wait_for

pytestmark = pytest.mark.e2e


def test_unanswered_numbers_are_quarantined_and_the_job_waits_for_caller_id(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """A number added by API and one of the workspace, never answered: each rests after
    its 20th dial (number.quarantined), the job's last rows wait with waitingFor callerId,
    the workspace shows each number's 24 h stats; restored by hand, a number carries the
    rest. A new key replaces the old one, which is refused at once."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.02",
        BATCHDIAL_SIMULATED_OUTCOMES="no-answer=1",
    )
    with start_stack(env, threads=4, dial_limit=6, per_number=3) as stack:
        http = stack.http
        patched = http.patch("/api/workspace", json={"quarantineBelowAnswerRate": 0.5})
        assert patched.status_code == 200, patched.text
        added = http.post(
            "/api/phone_numbers", json={"number": "+13055550100", "maxConcurrentDials": 2}
        )
        assert added.status_code == 201, added.text
        pool = [added.json()["id"], stack.ws["phoneNumbers"][0]["id"]]
        rows = [{"toNumber": f"+1646555{i:04d}"} for i in range(45)]
        job = stack.create_job(rows, 3, fromPhoneNumberIds=pool)
        stack.start(job)
        url = f"/api/batch_dial_jobs/{job['id']}"
        stack.wait_finished(job, 40, 30)
        wait_for(
            lambda: {q["waitingFor"] for q in read_all(http, f"{url}/queue")} == {"callerId"},
            10,
            "the rows to wait for a caller ID",
        )
        # A dial under way when its number rested ends a moment later: counted only then
        # in the number's stats, and never in the queue (one was caught between the two).
        wait_for(lambda: stack.job(job)["counts"]["inProgress"] == 0, 10, "dials under way")
        events = read_all(http, f"{url}/events")
        quarantined = [e for e in events if e["type"] == "number.quarantined"]
        assert sorted(e["numberId"] for e in quarantined) == sorted(pool)
        # Quarantined as its 20th dial ends; dials already under way (per-number limits
        # 2 and 3) end too.
        assert all(20 <= e["dials"] <= 22 and e["answerRate"] == 0 for e in quarantined)
        numbers = {n["id"]: n for n in http.get("/api/workspace").json()["phoneNumbers"]}
        for number_id in pool:
            assert numbers[number_id]["resting"] is True
            assert 20 <= numbers[number_id]["stats"]["dials"] <= 22
            assert numbers[number_id]["stats"]["answerRate"] == 0.0
        waiting = len(read_all(http, f"{url}/queue"))
        assert waiting == 45 - sum(numbers[n]["stats"]["dials"] for n in pool)

        http.patch("/api/workspace", json={"quarantineBelowAnswerRate": None}).raise_for_status()
        restored = http.patch(f"/api/phone_numbers/{pool[0]}", json={"resting": False})
        assert restored.status_code == 200 and restored.json()["resting"] is False
        stack.wait_status(job, "COMPLETE", 30)
        froms = Counter(d["fromNumber"] for d in read_all(http, f"{url}/dials"))
        second = stack.ws["phoneNumbers"][0]["number"]
        assert froms[second] == numbers[pool[1]]["stats"]["dials"]  # still resting
        assert froms["+13055550100"] == numbers[pool[0]]["stats"]["dials"] + waiting

        made = http.post("/api/workspace/api_keys")
        assert made.status_code == 201
        new = {"api_key": made.json()["apiKey"]}
        old_id = next(
            k["id"]
            for k in http.get("/api/workspace").json()["apiKeys"]
            if k["id"] != made.json()["id"]
        )
        assert (
            httpx.delete(f"{stack.base}/api/workspace/api_keys/{old_id}", headers=new).status_code
            == 200
        )
        assert http.get("/api/workspace").status_code == 401
        assert httpx.get(f"{stack.base}/api/workspace", headers=new).status_code == 200
