"""The pre-dial check end to end (issue 16, SPEC §8.2 ``preDialWebhook``): real API and
worker processes, the http dialer calling a stand-in provider that counts calls, and a
hook on loopback that verifies every signature independently and answers dial, skip,
defer, slowly (past its timeout), 503 or junk, row by row."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
import redis

from domain.replay import peak_concurrency
from tests.support.http import read_all
from tests.support.predial_hook import Hook, hook_server
from tests.support.procs import env_for
from tests.support.provider import SECRET, Provider, provider_server
from tests.support.redis_server import REDIS_URL
from tests.support.stack import Stack, StackFactory
from tests.support.waits import wait_for

pytestmark = pytest.mark.e2e

#: Long enough for a loaded machine's hook to answer; the slow one takes 6 s.
TIMEOUT_MS = 2000


def _rows(modes: list[str], count: int, first: int) -> list[dict[str, Any]]:
    return [
        {"toNumber": f"+1212555{first + i:04d}", "inputs": {"hook": modes[i % len(modes)]}}
        for i in range(count)
    ]


def _job(stack: Stack, hook: Hook, url: str, rows: list[dict[str, Any]], on_timeout: str) -> Any:
    predial = {"url": url, "timeoutMs": TIMEOUT_MS, "onTimeout": on_timeout}
    job = stack.create_job(rows, cap=3, preDialWebhook=predial)
    assert job["preDialWebhook"] == predial
    assert job["preDialSecret"].startswith("whsec_")
    hook.secrets[job["id"]] = job["preDialSecret"]
    assert "preDialSecret" not in stack.job(job), "shown by the commands only"
    return job


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["at"]).timestamp()


def _queue_shows_predial(stack: Stack, job: dict[str, Any]) -> bool:
    entries = stack.http.get(f"/api/batch_dial_jobs/{job['id']}/queue").json()["data"]
    return any(e["waitingFor"] == "preDial" and e["nextEligibleAt"] for e in entries)


@pytest.mark.timeout(120)
def test_the_hook_skips_defers_and_times_out_as_documented(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Job A (onTimeout skip): skipped rows end ``skipped`` with row.skipped and are never
    called; deferred rows wait (queue: waitingFor preDial), are asked again and called
    once, as attempt 1; a hook too slow, answering 503 or junk skips its row by
    onTimeout, and the slot is free long before the slow answer comes. Job B (onTimeout
    dial): the same failures dial. Every request is signed; the caps hold."""
    hook, provider = Hook(defer_s=2.0, slow_s=6.0), Provider(SECRET, call_seconds=0.2)
    modes_a = ["dial", "skip", "defer", "slow", "error", "junk"]
    rows_a, rows_b = _rows(modes_a, 18, 0), _rows(["dial", "slow", "error", "junk"], 8, 100)
    with hook_server(hook) as hook_url, provider_server(provider) as dial_url:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="http",
            BATCHDIAL_DIALER_URL=dial_url,
            BATCHDIAL_DIALER_SECRET=SECRET,
            BATCHDIAL_WEBHOOK_ALLOW_PRIVATE="true",
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        with start_stack(env, workers=1, dial_limit=6, per_number=6) as stack:
            provider.api_base = stack.base
            job_a = _job(stack, hook, hook_url, rows_a, "skip")
            job_b = _job(stack, hook, hook_url, rows_b, "dial")
            stack.start(job_a)
            stack.start(job_b)
            wait_for(lambda: _queue_shows_predial(stack, job_a), 30, "a deferred row")
            stack.wait_status(job_a, "COMPLETE", 60)
            stack.wait_status(job_b, "COMPLETE", 60)
            view_a = stack.job(job_a)
            events_a = read_all(stack.http, f"/api/batch_dial_jobs/{job_a['id']}/events")
            events_b = read_all(stack.http, f"/api/batch_dial_jobs/{job_b['id']}/events")
            dials_a = read_all(stack.http, f"/api/batch_dial_jobs/{job_a['id']}/dials")

    assert hook.bad_signatures == []
    mode_of = {f"{job_a['id']}.{i}": r["inputs"]["hook"] for i, r in enumerate(rows_a)}
    called = Counter(r["rowId"] for r in provider.requests)
    assert provider.callback_errors == []
    # Job A: only the rows the hook let through were called, each once, as attempt 1.
    through = {row for row, mode in mode_of.items() if mode in ("dial", "defer")}
    assert {row for row in called if row.startswith(job_a["id"])} == through
    assert all(called[row] == 1 for row in through)
    assert all(r["attempt"] == 1 for r in provider.requests)
    assert {d["rowId"] for d in dials_a} == through, "a withdrawn dial is no dial"
    asked = hook.asked_per_row()
    assert all(asked[row] == (2 if mode == "defer" else 1) for row, mode in mode_of.items())
    skipped = {e["rowId"]: e for e in events_a if e["type"] == "row.skipped"}
    assert set(skipped) == set(mode_of) - through
    for row, event in skipped.items():
        mode = mode_of[row]
        assert event["status"] == "skipped"
        assert event["decidedBy"] == ("hook" if mode == "skip" else "onTimeout")
        reason = {"skip": "do not call", "slow": f"no answer within {TIMEOUT_MS} ms"}
        assert reason.get(mode, "") in event["reason"]
    assert "HTTP 503" in next(e["reason"] for r, e in skipped.items() if mode_of[r] == "error")
    assert view_a["counts"]["outcomes"]["skipped"] == len(skipped)
    assert view_a["counts"]["finished"] == len(rows_a)
    # The slot of a slow hook's row was free within the timeout, not the hook's 6 s.
    started = {e["dialId"]: _at(e) for e in events_a if e["type"] == "dial.started"}
    withdrawn = [e for e in events_a if e["type"] == "dial.withdrawn"]
    assert len(withdrawn) == len(skipped) + sum(m == "defer" for m in mode_of.values())
    for event in withdrawn:
        if mode_of[event["rowId"]] == "slow":
            assert _at(event) - started[event["dialId"]] < hook.slow_s - 1
    deferred = [e for e in withdrawn if e["row"] == "held"]
    assert deferred and all(mode_of[e["rowId"]] == "defer" for e in deferred)
    # Job B: whatever went wrong with the hook, onTimeout "dial" called every row once.
    called_b = {row: n for row, n in called.items() if row.startswith(job_b["id"])}
    assert len(called_b) == len(rows_b) and set(called_b.values()) == {1}
    assert not [e for e in events_b if e["type"] == "row.skipped"]
    for events in (events_a, events_b):
        assert peak_concurrency(events) <= 3, "job cap"
    assert provider.peak <= 6, "workspace limit"
