"""Fault: a provider that fails in every way SPEC §6 allows (http dialer)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.faults.helpers import dial_report, peak_moment, wait_status
from tests.support.faulty_provider import FAULTS, FaultyProvider, serve
from tests.support.http import job_url
from tests.support.procs import env_for
from tests.support.provider import SECRET
from tests.support.redis_server import REDIS_URL, sem_members
from tests.support.stack import StackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

PER_FAULT, CAP = 10, 8
ROWS = PER_FAULT * len(FAULTS)
TIMEOUT_S, MAX_CALL_S, SLOW_S, AWAY_S = 1, 4, 2.0, 1.2


def request_failures(log: Path) -> Counter[str]:
    """The worker's failed dial requests, by error (exception name or HTTP status)."""
    out: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "dial_request_failed":
            out[str(record.get("error") or record.get("status"))] += 1
    return out


@pytest.mark.timeout(120)
def test_provider_faults_retry_under_one_key_and_every_dial_ends(
    real_redis: redis.Redis, namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """5xx answers, answers slower than the dialer's timeout, answers lost with their
    socket, the provider's port closed for a while (connection refused), status
    callbacks that never come, come twice, or come before the dial request returned:
    every row is placed under one Idempotency-Key, no row is called twice, the cap
    holds, every dial ends in a final status, and every slot is freed."""
    provider = FaultyProvider(SECRET, call_seconds=0.3, plan=FAULTS, slow_s=SLOW_S)
    with serve(provider) as server:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="http",
            BATCHDIAL_DIALER_URL=server.url,
            BATCHDIAL_DIALER_SECRET=SECRET,
            BATCHDIAL_DIALER_TIMEOUT_SECONDS=str(TIMEOUT_S),
            BATCHDIAL_MAX_CALL_SECONDS=str(MAX_CALL_S),
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        stack = start_stack(env, workers=2, dial_limit=CAP, per_number=CAP, timeout=30)
        http = stack.http
        provider.api_base = stack.base
        job = stack.create_job(rows=ROWS, cap=CAP)
        began = time.monotonic()
        stack.start(job)
        # Connection refused: the provider's port closes for a while, mid-job.
        stack.wait_finished(job, ROWS // 3, 60)
        server.away()
        time.sleep(AWAY_S)  # the fault itself: the port stays closed this long
        server.back()
        wait_status(http, job, "COMPLETE", 90)
        took = time.monotonic() - began
        counts = http.get(job_url(job)).json()["counts"]
        report = dial_report(http, job)
        leases_left = sem_members(real_redis, namespace)
        stack.close()
    (tmp_path / "events.json").write_text(json.dumps(report["events"]))
    failures = request_failures(tmp_path / "w1.log") + request_failures(tmp_path / "w2.log")

    keys_per_row: dict[str, set[str]] = {}
    for request in provider.requests:
        keys_per_row.setdefault(request["rowId"], set()).add(request["dialId"])
    by_row = {d["rowId"]: d for d in report["dials"]}
    outcome: dict[str, Counter[str]] = {fault: Counter() for fault in FAULTS}
    requests: dict[str, Counter[int]] = {fault: Counter() for fault in FAULTS}
    for row_id, dial in by_row.items():
        fault = FAULTS[int(row_id.rsplit(".", 1)[1]) % len(FAULTS)]
        ended = dial["status"]
        reason = next(
            (
                e.get("reason")
                for e in report["events"]
                if e["type"] == "dial.finished" and e["dialId"] == dial["dialId"]
            ),
            None,
        )
        outcome[fault][f"{ended}/{reason}" if reason else ended] += 1
        requests[fault][provider.attempts[dial["dialId"]]] += 1
    second = Counter(
        str(answers[1]["changed"])
        for answers in provider.callback_answers.values()
        if len(answers) > 1
    )
    print(
        f"\nprovider faults: {ROWS} rows ({PER_FAULT} per fault), cap {CAP}, dialer timeout "
        f"{TIMEOUT_S}s, slow answers after {SLOW_S}s, max call {MAX_CALL_S}s, port closed "
        f"{AWAY_S}s; job COMPLETE after {took:.1f}s"
        f"\n  injected {dict(provider.injected)}; failed requests seen by the workers "
        f"{dict(failures)}"
        + "".join(
            f"\n  {fault:>6}: outcomes {dict(outcome[fault])}, requests per dial "
            f"{dict(requests[fault])}"
            for fault in FAULTS
        )
        + f"\n  second callbacks answered changed={dict(second)}; rows with 2+ dials "
        f"{len(report['rows_dialed_twice'])}; rows with 2+ Idempotency-Keys "
        f"{sum(len(k) > 1 for k in keys_per_row.values())}; peak {report['peak']} (events), "
        f"{provider.peak} (provider); leases left {leases_left}; callback errors "
        f"{provider.callback_errors}"
    )
    assert counts["finished"] == ROWS and counts["inProgress"] == counts["queued"] == 0
    assert report["rows_dialed"] == ROWS and report["rows_dialed_twice"] == []
    assert len(keys_per_row) == ROWS
    assert all(len(keys) == 1 for keys in keys_per_row.values())
    assert report["unfinished"] == []
    assert report["types"]["dial.finished"] == ROWS
    assert report["peak"] <= CAP, peak_moment(report["events"])
    assert provider.peak <= CAP
    assert leases_left == 0
    assert provider.callback_errors == []
    # Each fault was injected, and retried under the same key where it should be.
    for fault in ("5xx", "slow", "drop", "early", "silent", "twice"):
        assert provider.injected[fault] == PER_FAULT, (fault, provider.injected)
    assert failures["ConnectFailed"] > 0, "no dial request met the closed port"
    for fault in ("5xx", "slow", "drop"):
        assert requests[fault][2] == PER_FAULT, (fault, requests[fault])
    # A call never reported ends failed after the longest call; the others complete.
    assert outcome["silent"] == Counter({"failed/max_call_duration": PER_FAULT})
    for fault in FAULTS:
        if fault != "silent":
            assert outcome[fault] == Counter({"completed": PER_FAULT}), (fault, outcome[fault])
    # A second report of an ended dial changes nothing.
    assert second == Counter({"False": PER_FAULT})


@pytest.mark.timeout(60)
def test_a_lapsed_slot_is_not_dialed_into_before_its_dial_ends(
    real_redis: redis.Redis, namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """A call never reported holds one of two slots until the longest call; while short
    calls keep the other slot busy, the event log never shows more than two dials in
    progress (the lapsed dial ends before its slot is dialed into again)."""
    rows = 60
    plan = ("silent",) + ("ok",) * (rows - 1)  # row 0 is never reported; the rest end fast
    provider = FaultyProvider(SECRET, call_seconds=0.1, plan=plan, slow_s=0)
    with serve(provider) as server:
        env = env_for(
            namespace,
            REDIS_URL,
            BATCHDIAL_DIALER="http",
            BATCHDIAL_DIALER_URL=server.url,
            BATCHDIAL_DIALER_SECRET=SECRET,
            BATCHDIAL_MAX_CALL_SECONDS="2.5",  # between two runs of the reaper (every 1 s)
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        stack = start_stack(env, dial_limit=2, per_number=2, timeout=30)
        provider.api_base = stack.base
        job = stack.create_job(rows=rows, cap=2)
        stack.start(job)
        wait_status(stack.http, job, "COMPLETE", 45)
        report = dial_report(stack.http, job)
        stack.close()
    (tmp_path / "events.json").write_text(json.dumps(report["events"]))
    moment = peak_moment(report["events"])
    print(
        f"\nlapsed slot: cap 2, one call never reported (max call 2.5 s), {rows - 1} calls of "
        f"0.1 s reported by callback: peak {report['peak']} dials in progress by the event log "
        f"at {moment['at']}:"
        + "".join(f"\n  {dial} started {at}, ended {end}" for dial, at, end in moment["live"])
    )
    assert report["statuses"] == Counter({"completed": rows - 1, "failed": 1})
    assert report["reasons"] == Counter({"max_call_duration": 1})
    assert report["peak"] <= 2, moment
