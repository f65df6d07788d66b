"""Issue 7 end to end: recipient-local hours, retries, suppression and the per-number
daily cap through the HTTP API, with real worker processes on a real Redis."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import redis

from tests.support.http import read_all
from tests.support.procs import env_for
from tests.support.redis_server import REDIS_URL
from tests.support.stack import Stack, StackFactory
from tests.support.waits import wait_for

pytestmark = pytest.mark.e2e

ZONES = {
    "America/New_York": "+1212555{:04d}",
    "America/Los_Angeles": "+1310555{:04d}",
    "Pacific/Honolulu": "+1808555{:04d}",
    "Asia/Kathmandu": "+9771421{:04d}",
}


def system(start_stack: StackFactory, namespace: str, **settings: str) -> Stack:
    """A real API and one real worker (8 threads), a workspace of limit 20, a client."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.05",
        BATCHDIAL_LOG_LEVEL="WARNING",
        **settings,
    )
    return start_stack(env, threads=8, dial_limit=20, per_number=20)


def minute_of(zone: str, at: datetime) -> int:
    local = at.astimezone(ZoneInfo(zone))
    return local.hour * 60 + local.minute


def hhmm(minute: int) -> str:
    return "24:00" if minute == 1440 else f"{minute // 60:02d}:{minute % 60:02d}"


def choose_hours(now: datetime) -> tuple[int, int, set[str]]:
    """Hours [start, end) that hold New York and Los Angeles now (or else one zone),
    and not all four zones: the zones inside are returned."""
    ny = minute_of("America/New_York", now)
    if 200 <= ny <= 1400:
        start, end = ny - 200, ny + 30
    else:
        zone = next(z for z in ZONES if 30 <= minute_of(z, now) <= 1400)
        start, end = minute_of(zone, now) - 20, minute_of(zone, now) + 30
    inside = {z for z in ZONES if start <= minute_of(z, now) < end}
    assert inside and inside != set(ZONES)
    return start, end, inside


def next_local(zone: str, minute: int, after: datetime) -> datetime:
    """The first instant after `after` at which `zone`'s wall clock reads `minute`."""
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date()
    for offset in range(3):
        d = day + timedelta(days=offset)
        at = datetime(d.year, d.month, d.day, minute // 60, minute % 60, tzinfo=tz)
        if at.astimezone(UTC) > after:
            return at.astimezone(UTC)
    raise AssertionError("no opening in 3 days")


def test_recipients_in_four_zones_are_called_only_inside_their_hours(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Rows in four time zones under recipient hours that hold some zones now: only the rows of
    those zones are called, inside their local hours, and the rest wait with the time their hours
    open."""
    now = datetime.now(UTC)
    start, end, inside = choose_hours(now)
    rows = []
    zone_of: dict[str, str] = {}
    for k in range(4):
        for zone, pattern in ZONES.items():
            number = pattern.format(100 + k)
            assert phonenumbers.is_valid_number(phonenumbers.parse(number))
            rows.append({"toNumber": number})
            zone_of[number] = zone
    with system(start_stack, namespace) as stack:
        http = stack.http
        body = stack.body(rows=0, cap=5)
        body["rows"] = rows
        body["recipientHours"] = {"startTime": hhmm(start), "endTime": hhmm(end)}
        created = http.post("/api/batch_dial_jobs", json=body)
        assert created.status_code == 201, created.text
        url = f"/api/batch_dial_jobs/{created.json()['id']}"
        assert http.post(f"{url}/paused", json={"paused": False}).status_code == 200
        expected = sum(1 for n in zone_of.values() if n in inside)
        wait_for(lambda: http.get(url).json()["counts"]["finished"] >= expected, 30, "dials")
        wait_for(lambda: len(read_all(http, f"{url}/queue")) == len(rows) - expected, 10, "q")
        queue = read_all(http, f"{url}/queue")
        dials = read_all(http, f"{url}/dials")
        assert http.get(url).json()["status"] == "ACTIVE"

    assert Counter(zone_of[d["toNumber"]] for d in dials) == Counter(dict.fromkeys(inside, 4))
    for d in dials:
        started = datetime.fromisoformat(d["startedAt"])
        assert start <= minute_of(zone_of[d["toNumber"]], started) < end, d
    assert {zone_of[q["toNumber"]] for q in queue} == set(ZONES) - inside
    for q in queue:
        zone = zone_of[q["toNumber"]]
        assert q["waitingFor"] == "recipientHours"
        assert q["timezoneSource"] == "number"
        assert q["timezones"] == [zone]
        assert datetime.fromisoformat(q["nextEligibleAt"]) == next_local(zone, start, now)


def test_a_number_whose_zones_never_share_the_hours_is_refused(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """A number spanning zones whose recipient hours never overlap is refused at create with the row
    named."""
    with system(start_stack, namespace) as stack:
        http = stack.http
        body = stack.body(rows=2, cap=2)
        body["rows"].append({"toNumber": "+79161234567"})  # a Russian mobile: 16 zones
        body["recipientHours"] = {"startTime": "09:00", "endTime": "17:00"}
        refused = http.post("/api/batch_dial_jobs", json=body)
        assert refused.status_code == 422
        details = refused.json()["error"]["details"]
        assert [d["path"] for d in details] == ["rows[2].toNumber"]
        assert "timezone" in details[0]["message"]
        body["rows"][2]["timezone"] = "Europe/Moscow"
        assert http.post("/api/batch_dial_jobs", json=body).status_code == 201
        assert not http.get("/api/batch_dial_jobs").json()["data"][1:]


def test_busy_rows_are_retried_after_their_backoff(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Busy rows are held for their backoff (1 s, then 2 s), dialed again with attempt + 1 no
    earlier than their retryAt, and end busy after three attempts."""
    with system(start_stack, namespace, BATCHDIAL_SIMULATED_OUTCOMES="busy=1") as stack:
        http = stack.http
        body = stack.body(rows=4, cap=4)
        body["retry"] = {"maxAttempts": 3, "on": ["busy"], "backoffSeconds": [1, 2]}
        job = http.post("/api/batch_dial_jobs", json=body).json()
        url = f"/api/batch_dial_jobs/{job['id']}"
        http.post(f"{url}/paused", json={"paused": False})
        wait_for(lambda: http.get(url).json()["counts"]["held"] == 4, 10, "4 rows held")
        queue = read_all(http, f"{url}/queue")
        assert {q["waitingFor"] for q in queue} == {"retryBackoff"}
        assert {q["attempt"] for q in queue} == {2}
        wait_for(lambda: http.get(url).json()["status"] == "COMPLETE", 30, "COMPLETE")
        dials = read_all(http, f"{url}/dials")
        events = read_all(http, f"{url}/events")
        final = http.get(url).json()
    assert Counter(d["rowId"] for d in dials) == Counter({f"{job['id']}.{i}": 3 for i in range(4)})
    assert sorted(d["attempt"] for d in dials) == [1] * 4 + [2] * 4 + [3] * 4
    scheduled = {e["dialId"]: e for e in events if e["type"] == "row.retry_scheduled"}
    assert len(scheduled) == 8
    started = {e["dialId"]: e for e in events if e["type"] == "dial.started"}
    by_row: dict[str, list[dict[str, Any]]] = {}
    for d in dials:
        by_row.setdefault(d["rowId"], []).append(d)
    for row_dials in by_row.values():
        row_dials.sort(key=lambda d: d["attempt"])
        for before, after in pairwise(row_dials):
            retry_iso = scheduled[before["dialId"]]["retryAt"]
            retry_at = datetime.fromisoformat(retry_iso).timestamp() * 1000
            began = datetime.fromisoformat(started[after["dialId"]]["at"]).timestamp() * 1000
            assert began >= retry_at
            wait = {1: 1000, 2: 2000}[before["attempt"]]
            ended = datetime.fromisoformat(before["endedAt"]).timestamp() * 1000
            assert abs(retry_at - ended - wait) < 5
    assert final["counts"]["outcomes"] == {"busy": 4}
    assert final["counts"]["byStatus"] == {"busy": 12}


def test_suppressed_and_opted_out_numbers_are_not_called(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """Listed numbers are skipped as suppressed, numbers that opt out during a call are added to the
    list, and a later job calls none of them."""
    with system(start_stack, namespace, BATCHDIAL_SIMULATED_OUTCOMES="opted-out=1") as stack:
        http = stack.http
        body = stack.body(rows=5, cap=5)
        numbers = [r["toNumber"] for r in body["rows"]]
        added = http.post("/api/suppressions", json={"numbers": numbers[:2], "reason": "dnc"})
        assert added.status_code == 200, added.text
        job = http.post("/api/batch_dial_jobs", json=body).json()
        url = f"/api/batch_dial_jobs/{job['id']}"
        http.post(f"{url}/paused", json={"paused": False})
        wait_for(lambda: http.get(url).json()["status"] == "COMPLETE", 30, "COMPLETE")
        first = http.get(url).json()
        dials = read_all(http, f"{url}/dials")
        events = read_all(http, f"{url}/events")
        listed = read_all(http, "/api/suppressions")
        again = http.post("/api/batch_dial_jobs", json=body).json()
        url2 = f"/api/batch_dial_jobs/{again['id']}"
        http.post(f"{url2}/paused", json={"paused": False})
        wait_for(lambda: http.get(url2).json()["status"] == "COMPLETE", 30, "COMPLETE")
        second = http.get(url2).json()
        assert read_all(http, f"{url2}/dials") == []
    assert sorted(d["toNumber"] for d in dials) == sorted(numbers[2:])
    assert first["counts"]["outcomes"] == {"suppressed": 2, "opted-out": 3}
    assert sorted(e["rowId"] for e in events if e["type"] == "row.suppressed") == [
        f"{job['id']}.0",
        f"{job['id']}.1",
    ]
    audit = [e for e in events if e["type"] == "suppression.added"]
    assert sorted(e["toNumber"] for e in audit) == sorted(numbers[2:])
    assert sorted(s["number"] for s in listed) == sorted(numbers)
    assert {s["source"] for s in listed} == {"api", "opted-out"}
    assert second["counts"]["outcomes"] == {"suppressed": 5}


def test_the_daily_cap_per_number_holds_rows_across_jobs(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """With a daily cap of one call per number, a second job calls only the numbers the
    first job did not; the others wait (frequencyCap) until a day after their call."""
    with system(start_stack, namespace) as stack:
        http = stack.http
        patched = http.patch("/api/workspace", json={"maxCallsPerNumberPerDay": 1})
        assert patched.status_code == 200, patched.text
        body = stack.body(rows=3, cap=3)
        first = http.post("/api/batch_dial_jobs", json=body).json()
        url = f"/api/batch_dial_jobs/{first['id']}"
        http.post(f"{url}/paused", json={"paused": False})
        wait_for(lambda: http.get(url).json()["status"] == "COMPLETE", 30, "COMPLETE")
        first_calls = {d["toNumber"]: d for d in read_all(http, f"{url}/dials")}
        body["rows"] += stack.body(rows=5, cap=3)["rows"][3:]
        second = http.post("/api/batch_dial_jobs", json=body).json()
        url2 = f"/api/batch_dial_jobs/{second['id']}"
        http.post(f"{url2}/paused", json={"paused": False})
        wait_for(lambda: http.get(url2).json()["counts"]["finished"] == 2, 30, "2 new rows")
        wait_for(lambda: http.get(url2).json()["counts"]["held"] == 3, 10, "3 rows held")
        queue = read_all(http, f"{url2}/queue")
        job2 = http.get(url2).json()
    assert job2["status"] == "ACTIVE"
    assert {q["toNumber"] for q in queue} == set(first_calls)
    for q in queue:
        assert q["waitingFor"] == "frequencyCap"
        called = datetime.fromisoformat(first_calls[q["toNumber"]]["startedAt"])
        assert datetime.fromisoformat(q["nextEligibleAt"]) == called + timedelta(days=1)
