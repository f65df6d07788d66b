"""An upload's commit goes in by bounded steps and is always carried to its end
(issue 17, domain/row_commit.py): the steps add the rows in order, a commit whose driver
died is taken up by a worker's timer or by the next upload, a job does not complete
while one is under way, and a cancel meanwhile ends it honestly."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import redis

from domain import row_commit
from domain.errors import Conflict
from domain.keys import Keys
from domain.protocol_rows import RowsCommitted, parse_commit_rows
from domain.row_commit import CommitResumer
from domain.scripts import Scripts
from producer import appends
from producer.rowformats import Item, ndjson_items
from producer.service import Producer
from producer.validation import Limits
from tests.support.bodies import job_body
from tests.support.engine import CountingDialer, Rig
from tests.support.waits import wait_for

Drive = Callable[..., RowsCommitted]


def items(numbers: range, **fields: Any) -> Iterator[Item]:
    """NDJSON rows +1212555<n> with an input and the given row fields."""
    lines = (
        json.dumps({"toNumber": f"+1212555{n:04d}", "inputs": {"n": str(n)}, **fields}).encode()
        + b"\n"
        for n in numbers
    )
    return ndjson_items(lines)


def queued_numbers(producer: Producer, ws_id: str, job_id: str) -> list[str]:
    return [entry["toNumber"] for entry in producer.queue(ws_id, job_id, limit=500).data]


def dying_drive(steps: int) -> Drive:
    """A driver that runs ``steps`` steps and then dies (the API process killed)."""

    def drive(scripts: Scripts, keys: Keys, ws_id: str, job_id: str, upload_id: str) -> Any:
        for _ in range(steps):
            args = [upload_id, row_commit.STEP_ROWS, row_commit.LEASE_MS]
            scripts("commit_step", keys.script_keys(ws_id, job_id), args)
        raise redis.ConnectionError("the API died mid-commit")

    return drive


def lapse(client: redis.Redis, keys: Keys) -> None:
    """Every commit's lease lapses now (as when its driver died 15 s ago)."""
    key = keys.ns_key("K_COMMITS")
    members = cast(list[str], client.zrange(key, 0, -1))
    client.zadd(key, dict.fromkeys(members, 0))


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Steps of 7 rows; the outcomes of every step script run are recorded."""
    monkeypatch.setattr(row_commit, "STEP_ROWS", 7)
    outcomes: list[str] = []

    def counted(raw: object) -> RowsCommitted:
        result = parse_commit_rows(raw)
        outcomes.append(result.outcome)
        return result

    monkeypatch.setattr(row_commit, "parse_commit_rows", counted)
    return outcomes


def test_a_large_append_goes_in_by_steps_in_order(
    producer: Producer, workspace: dict[str, Any], any_redis: redis.Redis, small_steps: list[str]
) -> None:
    """50 rows in steps of 7: eight steps, the rows behind the job's in order, one
    job.rows_appended, externalIds kept, nothing of the staging left."""
    ws_id = workspace["workspaceId"]
    job_id = producer.create_job(ws_id, job_body(workspace, rows=2))["id"]
    rows = [
        {"toNumber": f"+1212555{n:04d}", "externalId": f"e{n}", "inputs": {"n": str(n)}}
        for n in range(100, 150)
    ]
    lines = ndjson_items(json.dumps(r).encode() + b"\n" for r in rows)
    assert producer.append_rows(ws_id, job_id, lines) == {
        "appended": 50,
        "duplicates": 0,
        "rows": 52,
    }
    assert small_steps == ["step"] * 7 + ["ok"]
    numbers = queued_numbers(producer, ws_id, job_id)
    assert numbers[2:] == [f"+1212555{n:04d}" for n in range(100, 150)]
    again = ndjson_items(json.dumps(r).encode() + b"\n" for r in rows[:3])
    assert producer.append_rows(ws_id, job_id, again)["duplicates"] == 3
    events = [e for e in producer.events(ws_id, job_id).data if e["type"] == "job.rows_appended"]
    assert [(e["appended"], e["rows"]) for e in events] == [(50, 52), (0, 52)]
    ns = producer.keys.namespace
    assert not list(any_redis.scan_iter(match=f"{ns}:*:up:*"))
    assert not any_redis.zcard(producer.keys.ns_key("K_COMMITS"))


def test_a_create_with_its_file_goes_in_by_steps(
    producer: Producer, workspace: dict[str, Any], small_steps: list[str]
) -> None:
    """A multipart create of 20 rows in steps of 7: the job exists once, with them all."""
    ws_id = workspace["workspaceId"]
    body = job_body(workspace, rows=1)
    del body["rows"]
    job = producer.create_job_with_rows(ws_id, json.dumps(body).encode(), items(range(20)))
    assert small_steps == ["step", "step", "ok"]
    assert job["counts"]["rows"] == 20 and job["status"] == "INIT"
    assert queued_numbers(producer, ws_id, job["id"]) == [f"+1212555{n:04d}" for n in range(20)]
    created = [e for e in producer.events(ws_id, job["id"]).data if e["type"] == "job.created"]
    assert len(created) == 1 and created[0]["rows"] == 20


def test_a_commit_whose_driver_died_is_finished_by_a_worker_timer(
    producer: Producer,
    workspace: dict[str, Any],
    any_redis: redis.Redis,
    small_steps: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API dies after two of three steps: the rows of those steps are in, the rest
    stays staged (no TTL); once the lease lapsed a worker's timer adds the rest."""
    ws_id = workspace["workspaceId"]
    job_id = producer.create_job(ws_id, job_body(workspace, rows=1))["id"]
    monkeypatch.setattr(appends, "drive", dying_drive(2))
    with pytest.raises(redis.ConnectionError):
        producer.append_rows(ws_id, job_id, items(range(100, 120)))
    assert len(queued_numbers(producer, ws_id, job_id)) == 1 + 14
    ns = producer.keys.namespace
    staged = list(any_redis.scan_iter(match=f"{ns}:*:up:*:rows"))
    assert staged and all(any_redis.ttl(k) == -1 for k in staged)
    resumer = CommitResumer(any_redis, producer.keys)
    assert resumer.resume_lapsed() == 0  # its 15 s lease has not lapsed
    lapse(any_redis, producer.keys)
    assert resumer.resume_lapsed() == 1
    numbers = queued_numbers(producer, ws_id, job_id)
    assert numbers[1:] == [f"+1212555{n:04d}" for n in range(100, 120)]
    assert producer.get_job(ws_id, job_id)["counts"]["rows"] == 21
    assert not any_redis.zcard(producer.keys.ns_key("K_COMMITS"))
    left = list(any_redis.scan_iter(match=f"{ns}:*:up:*"))
    assert [k.rsplit(":", 1)[1] for k in left] == ["commit"]  # its result, for an hour
    assert 0 < any_redis.ttl(left[0]) <= 3600


def test_an_upload_finishes_the_commit_under_way_before_its_own(
    producer: Producer,
    workspace: dict[str, Any],
    small_steps: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One commit per job: a second upload that finds the first one's under way (its
    driver stalled) carries it to its end, then adds its own rows behind."""
    ws_id = workspace["workspaceId"]
    job_id = producer.create_job(ws_id, job_body(workspace, rows=1))["id"]
    real_drive = row_commit.drive
    monkeypatch.setattr(appends, "drive", dying_drive(1))
    with pytest.raises(redis.ConnectionError):
        producer.append_rows(ws_id, job_id, items(range(100, 120)))
    monkeypatch.setattr(appends, "drive", real_drive)
    result = producer.append_rows(ws_id, job_id, items(range(200, 205)))
    assert result == {"appended": 5, "duplicates": 0, "rows": 26}
    expected = [f"+1212555{n:04d}" for n in [*range(100, 120), *range(200, 205)]]
    assert queued_numbers(producer, ws_id, job_id)[1:] == expected


def test_a_job_does_not_complete_while_an_upload_is_going_in(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append's commit begins and its driver dies before the first step; the job's
    one row is dialed and done meanwhile: the job stays ACTIVE (without the guard it
    completed, and the commit could not go on). The worker's own timer takes the commit
    up once its lease lapsed; its rows are dialed, and only then does the job complete."""
    ws = rig.workspace()
    ws_id = ws["workspaceId"]
    job_id = rig.job(ws, rows=1, cap=1)
    monkeypatch.setattr(appends, "drive", dying_drive(0))
    with pytest.raises(redis.ConnectionError):
        rig.producer.append_rows(ws_id, job_id, items(range(100, 103)))
    rig.start(ws, job_id)
    rig.worker(CountingDialer(call_seconds=0.05), threads=2)
    wait_for(
        lambda: rig.dials(ws, job_id)[:1] and rig.dials(ws, job_id)[0]["status"] == "completed",
        20,
        "row 0's call to end",
    )
    time.sleep(0.3)  # several timer ticks: a job that could complete would have
    assert rig.status(ws, job_id) == "ACTIVE"
    lapse(rig.client, rig.producer.keys)  # the worker's timer takes the commit up now
    rig.wait_status(ws, job_id, "COMPLETE", timeout=20)
    types = [(e["type"], e.get("rowId")) for e in rig.events(ws, job_id)]
    first_done = types.index(("dial.finished", f"{job_id}.0"))
    assert first_done < types.index(("job.rows_appended", None))
    assert types[-1] == ("job.completed", None)
    dials = sorted(rig.dials(ws, job_id), key=lambda d: int(d["rowId"].rsplit(".", 1)[1]))
    assert [d["toNumber"] for d in dials] == [
        "+12125550000",
        *(f"+1212555{n:04d}" for n in range(100, 103)),
    ]


def test_a_cancel_during_a_commit_ends_it_and_says_what_went_in(
    producer: Producer,
    workspace: dict[str, Any],
    small_steps: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancel never waits for an upload: the commit's next step finds the job
    CANCELLED and ends it; the rows that went in before were cancelled with the job,
    and the append's answer says so."""
    ws_id = workspace["workspaceId"]
    job_id = producer.create_job(ws_id, job_body(workspace, rows=1))["id"]
    real_drive = row_commit.drive

    def cancelled_midway(
        scripts: Scripts, keys: Keys, ws: str, job: str, upload_id: str
    ) -> RowsCommitted:
        args = [upload_id, row_commit.STEP_ROWS, row_commit.LEASE_MS]
        scripts("commit_step", keys.script_keys(ws, job), args)
        producer.cancel_job(ws, job)
        return real_drive(scripts, keys, ws, job, upload_id)

    monkeypatch.setattr(appends, "drive", cancelled_midway)
    with pytest.raises(Conflict, match=r"became CANCELLED while .*; 7 of them went in first"):
        producer.append_rows(ws_id, job_id, items(range(100, 120)))
    job = producer.get_job(ws_id, job_id)
    assert job["status"] == "CANCELLED"
    assert job["counts"]["rows"] == 8 and job["counts"]["cancelled"] == 8
    assert not producer.redis.hget(producer.keys.job(ws_id, job_id), "committing")


def test_full_steps_write_every_row_key_in_pieces(any_redis: redis.Redis, namespace: str) -> None:
    """2,600 rows at the real step size (two steps, each written key by key in pieces
    of at most 1,000 values): every row in order, its externalId, expiry and number
    mark, and each row in its recipients' group queue."""
    producer = Producer(any_redis, namespace, Limits(max_rows=5_000))
    workspace = producer.workspaces.create("acme", 10, ["+12125550100"])
    ws_id = workspace["workspaceId"]
    hours = {"startTime": "00:00", "endTime": "24:00"}
    body = job_body(workspace, rows=[{"toNumber": "+13125550000"}], recipientHours=hours)
    job_id = producer.create_job(ws_id, body)["id"]
    expires = "2099-01-01T00:00:00.000+00:00"
    rows = []
    for n in range(2_600):
        area = "212" if n % 2 else "415"
        row: dict[str, Any] = {"toNumber": f"+1{area}55{n:05d}", "inputs": {"n": str(n)}}
        if n % 3 == 0:
            row["externalId"] = f"e{n}"
        if n % 5 == 0:
            row["expiresAt"] = expires
        rows.append(row)
    lines = ndjson_items(json.dumps(r).encode() + b"\n" for r in rows)
    assert producer.append_rows(ws_id, job_id, lines)["appended"] == 2_600
    keys = producer.keys
    queue = cast(list[str], any_redis.zrange(keys.queue(ws_id, job_id), 0, -1))
    assert queue == [str(i) for i in range(2_601)]
    stored = cast(list[str], any_redis.hmget(keys.rows(ws_id, job_id), queue))
    assert [json.loads(s)[0] for s in stored[1:]] == [r["toNumber"] for r in rows]
    ext = cast(dict[str, str], any_redis.hgetall(keys.job_key(ws_id, job_id, "K_EXT")))
    assert ext == {f"e{n}": str(n + 1) for n in range(0, 2_600, 3)}
    expiring = cast(list[str], any_redis.zrange(keys.job_key(ws_id, job_id, "K_EXPIRY"), 0, -1))
    assert sorted(map(int, expiring)) == [n + 1 for n in range(0, 2_600, 5)]
    marks = cast(dict[str, str], any_redis.hgetall(keys.job_key(ws_id, job_id, "K_NUMS")))
    assert marks == {"+13125550000": ""} | {
        r["toNumber"]: "x" if "externalId" in r else "" for r in rows
    }
    groups = cast(dict[str, str], any_redis.hgetall(keys.groups(ws_id, job_id)))
    sizes = sorted(any_redis.zcard(keys.group_queue(ws_id, job_id, gid)) for gid in groups)
    assert sizes == [1, 1_300, 1_300]  # Chicago (the job's first row), New York, LA
