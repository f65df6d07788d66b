"""Rows after create (SPEC §8.3, issue 17) through the HTTP API on a real Redis: append as
JSON, NDJSON and CSV, all or nothing with row indexes and line numbers, externalId
duplicates, the states that take appends, and a job created without rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import redis
from fastapi.testclient import TestClient

from producer import appends
from tests.support.bodies import job_body, rows_of
from tests.support.http import assert_error, h

Make = Callable[..., dict[str, Any]]
JOBS = "/api/batch_dial_jobs"
NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}


def create(api: TestClient, ws: dict[str, Any], rows: Any = 2, **kw: Any) -> str:
    response = api.post(JOBS, json=job_body(ws, rows=rows, **kw), headers=h(ws))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def queue_numbers(api: TestClient, ws: dict[str, Any], job_id: str) -> list[str]:
    page = api.get(f"{JOBS}/{job_id}/queue", params={"limit": 500}, headers=h(ws)).json()
    return [entry["toNumber"] for entry in page["data"]]


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_json_ndjson_and_csv_appends_join_the_queue_in_order(
    api: TestClient, make_workspace: Make
) -> None:
    """Each format adds its rows behind the job's, in order, with their inputs; the
    answer counts them and the job's total."""
    ws = make_workspace()
    job_id = create(api, ws, rows=rows_of(2))
    url = f"{JOBS}/{job_id}/rows"
    first = api.post(url, json={"rows": rows_of(4)[2:3]}, headers=h(ws))
    assert first.status_code == 200, first.text
    assert first.json() == {"appended": 1, "duplicates": 0, "rows": 3}
    lines = ndjson(rows_of(5)[3:5])
    second = api.post(url, content=lines, headers={**h(ws), **NDJSON})
    assert second.json() == {"appended": 2, "duplicates": 0, "rows": 5}, second.text
    csv_text = 'toNumber,customer_name,note\n+12125550005,C5,"a, b"\n\n+1 212 555 0006,C6,x\n'
    third = api.post(url, content=csv_text.encode(), headers={**h(ws), **CSV})
    assert third.json() == {"appended": 2, "duplicates": 0, "rows": 7}, third.text
    assert queue_numbers(api, ws, job_id) == [f"+1212555{i:04d}" for i in range(7)]
    page = api.get(f"{JOBS}/{job_id}/queue", headers=h(ws)).json()["data"]
    assert page[5]["inputs"] == {"customer_name": "C5", "note": "a, b"}
    assert page[5]["index"] == 5
    job = api.get(f"{JOBS}/{job_id}", headers=h(ws)).json()
    assert job["counts"]["rows"] == 7 and job["counts"]["queued"] == 7
    kinds = [e["type"] for e in api.get(f"{JOBS}/{job_id}/events", headers=h(ws)).json()["data"]]
    assert kinds.count("job.rows_appended") == 3


def test_a_bad_row_refuses_the_whole_upload_naming_index_and_line(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """Every problem is listed (rows[i] and its line); nothing is added, nothing staged
    is left behind."""
    ws = make_workspace()
    job_id = create(api, ws, rows=rows_of(1))
    url = f"{JOBS}/{job_id}/rows"
    body = (
        b'{"toNumber": "+12125550001"}\n\n'
        b'{"toNumber": "+1234567890"}\n'
        b"not json\n"
        b'{"toNumber": "+12125550000"}\n'
    )
    response = api.post(url, content=body, headers={**h(ws), **NDJSON})
    details = assert_error(response, 422)["details"]
    by_path = {d["path"]: d["message"] for d in details}
    assert by_path["rows[1].toNumber"].startswith("line 3: ")
    assert by_path["rows[2]"].startswith("line 4: ")
    assert "already has this number" in by_path["rows[3].toNumber"]
    assert by_path["rows[3].toNumber"].startswith("line 5: ")
    csv_body = b"toNumber,name\n+12125550001,A\n+12125550002\n"
    csv_details = assert_error(api.post(url, content=csv_body, headers={**h(ws), **CSV}), 422)
    assert csv_details["details"][0]["path"] == "rows[1]"
    assert csv_details["details"][0]["message"].startswith("line 3: 1 fields")
    assert queue_numbers(api, ws, job_id) == ["+12125550000"]
    assert not list(real_redis.scan_iter(match=f"{namespace}:*:up:*"))


def test_problems_keep_the_order_of_the_upload_across_chunks(
    api: TestClient, make_workspace: Make, monkeypatch: Any
) -> None:
    """A chunk's staging runs while the next chunk is validated; a repeat found by the
    first chunk's staging still comes before a bad row of the next chunk, and every
    problem keeps its row's line (chunks of 3 rows here)."""
    monkeypatch.setattr(appends, "CHUNK_ROWS", 3)
    ws = make_workspace()
    job_id = create(api, ws, rows=rows_of(1))
    rows: list[dict[str, Any]] = [
        {"toNumber": "+12125550011"},
        {"toNumber": "+12125550012"},
        {"toNumber": "+12125550011"},  # chunk 1: repeats rows[0], found only by staging
        {"toNumber": "+12125550013"},
        {"toNumber": "not a number"},  # chunk 2: refused by validation
        {"toNumber": "+12125550000"},  # chunk 2: the job has it (staging)
        {"toNumber": "+12125550014", "bogus": 1},  # chunk 3: validation
    ]
    response = api.post(f"{JOBS}/{job_id}/rows", content=ndjson(rows), headers={**h(ws), **NDJSON})
    details = assert_error(response, 422)["details"]
    assert [d["path"] for d in details] == [
        "rows[2].toNumber",
        "rows[4].toNumber",
        "rows[5].toNumber",
        "rows[6].bogus",
    ]
    assert details[0]["message"].startswith("line 3: repeats rows[0]")
    assert details[1]["message"].startswith("line 5: ")
    assert details[2]["message"].startswith("line 6: the job already has this number")
    assert details[3]["message"] == "line 7: is not a known field"
    assert queue_numbers(api, ws, job_id) == ["+12125550000"]


def test_external_ids_skip_duplicates_and_let_a_number_repeat(
    api: TestClient, make_workspace: Make
) -> None:
    """A row whose externalId the job has is skipped and counted; the same number twice
    is refused unless both rows carry distinct externalIds."""
    ws = make_workspace()
    rows = [{"toNumber": "+12125550001", "externalId": "a"}]
    job_id = create(api, ws, rows=rows)
    url = f"{JOBS}/{job_id}/rows"
    again = [
        {"toNumber": "+12125550001", "externalId": "a"},
        {"toNumber": "+12125550001", "externalId": "b"},
        {"toNumber": "+12125550002", "externalId": "c"},
        {"toNumber": "+12125550003", "externalId": "c"},
    ]
    response = api.post(url, json={"rows": again}, headers=h(ws))
    assert response.json() == {"appended": 2, "duplicates": 2, "rows": 3}, response.text
    replay = api.post(url, json={"rows": again}, headers=h(ws))
    assert replay.json() == {"appended": 0, "duplicates": 4, "rows": 3}
    no_id = api.post(url, json={"rows": [{"toNumber": "+12125550002"}]}, headers=h(ws))
    assert "already has this number" in assert_error(no_id, 422)["details"][0]["message"]
    csv_body = b"toNumber,externalId,x\n+12125550009,,1\n+12125550009,z,2\n"
    clash = assert_error(api.post(url, content=csv_body, headers={**h(ws), **CSV}), 422)
    assert clash["details"][0]["path"] == "rows[1].toNumber"
    assert "repeats rows[0]" in clash["details"][0]["message"]


def test_only_unfinished_jobs_take_rows(api: TestClient, make_workspace: Make) -> None:
    """INIT, ACTIVE and PAUSED jobs take rows; a CANCELLED one answers 409, an unknown
    job 404, another content type 400."""
    ws = make_workspace()
    job_id = create(api, ws, rows=rows_of(1))
    url = f"{JOBS}/{job_id}/rows"
    assert api.post(f"{JOBS}/{job_id}/paused", json={"paused": False}, headers=h(ws)).is_success
    assert api.post(url, json={"rows": rows_of(2)[1:]}, headers=h(ws)).status_code == 200
    assert api.post(f"{JOBS}/{job_id}/paused", json={"paused": True}, headers=h(ws)).is_success
    assert api.post(url, json={"rows": [rows_of(3)[2]]}, headers=h(ws)).status_code == 200
    assert api.post(f"{JOBS}/{job_id}/cancel", headers=h(ws)).is_success
    assert_error(api.post(url, json={"rows": [rows_of(4)[3]]}, headers=h(ws)), 409)
    assert_error(api.post(f"{JOBS}/job_nope/rows", json={"rows": rows_of(1)}, headers=h(ws)), 404)
    plain = {**h(ws), "Content-Type": "text/plain"}
    assert_error(api.post(url, content=b"x", headers=plain), 400)


def test_a_job_created_without_rows_waits_for_them(api: TestClient, make_workspace: Make) -> None:
    """A create without rows makes an INIT job that refuses to start (409, saying why)
    until rows are appended: it never completes at once having called nobody."""
    ws = make_workspace()
    body = job_body(ws)
    del body["rows"]
    job = api.post(JOBS, json=body, headers=h(ws))
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    start = api.post(f"{JOBS}/{job_id}/paused", json={"paused": False}, headers=h(ws))
    assert "no rows yet" in assert_error(start, 409)["message"]
    added = api.post(f"{JOBS}/{job_id}/rows", json={"rows": rows_of(2)}, headers=h(ws))
    assert added.json()["rows"] == 2
    started = api.post(f"{JOBS}/{job_id}/paused", json={"paused": False}, headers=h(ws))
    assert started.json()["status"] == "ACTIVE"


def test_a_large_ndjson_upload_is_streamed_past_the_body_limit(
    real_redis: redis.Redis, namespace: str, make_workspace: Make
) -> None:
    """An NDJSON upload bigger than BATCHDIAL_MAX_BODY_BYTES is taken (it is read in
    chunks), sent as a stream of chunks; a JSON body over the limit is still 413."""
    from producer.http.app import create_app
    from producer.validation import Limits

    app = create_app(real_redis, namespace, max_body_bytes=32 * 1024, limits=Limits(max_rows=5000))
    with TestClient(app) as small:
        ws = make_workspace()
        job_id = create(small, ws, rows=rows_of(1))
        rows = rows_of(3000)[1:]

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(rows), 100):
                yield ndjson(rows[start : start + 100])

        url = f"{JOBS}/{job_id}/rows"
        response = small.post(url, content=chunks(), headers={**h(ws), **NDJSON})
        assert response.json() == {"appended": 2999, "duplicates": 0, "rows": 3000}, response.text
        too_big = small.post(url, json={"rows": rows_of(4000)[3000:]}, headers=h(ws))
        assert_error(too_big, 413)
        over = small.post(url, content=ndjson(rows_of(5001)[3000:]), headers={**h(ws), **NDJSON})
        assert "at most 5000" in assert_error(over, 422)["details"][0]["message"]
        config = job_body(ws)
        del config["rows"]
        files: dict[str, Any] = {
            "job": (None, json.dumps(config), "application/json"),
            "rows": ("big.ndjson", ndjson(rows_of(3000)), "application/x-ndjson"),
        }
        created = small.post(JOBS, files=files, headers=h(ws))
        assert created.status_code == 201, created.text
        assert created.json()["counts"]["rows"] == 3000


def test_appended_rows_join_their_recipients_time_zone_groups(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """On a job with recipientHours, appended rows get the group of their zones: an
    existing one, or a new one (here from an empty create), as at create."""
    ws = make_workspace()
    hours = {"startTime": "00:00", "endTime": "24:00"}
    body = job_body(ws, rows=[{"toNumber": "+12125550001"}], recipientHours=hours)
    created = api.post(JOBS, json=body, headers=h(ws))
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    rows = [
        {"toNumber": "+12125550002"},
        {"toNumber": "+14155550003"},
        {"toNumber": "+12125550004", "timezone": "Europe/Paris"},
    ]
    answer = api.post(f"{JOBS}/{job_id}/rows", json={"rows": rows}, headers=h(ws))
    assert answer.status_code == 200, answer.text
    queue = api.get(f"{JOBS}/{job_id}/queue", headers=h(ws)).json()["data"]
    assert [q["timezones"] for q in queue] == [
        ["America/New_York"],
        ["America/New_York"],
        ["America/Los_Angeles"],
        ["Europe/Paris"],
    ]
    assert [q["timezoneSource"] for q in queue] == ["number", "number", "number", "row"]
    base = f"{namespace}:{{{ws['workspaceId']}}}:job:{job_id}"
    groups = real_redis.hgetall(f"{base}:groups")
    assert len(groups) == 3
    sizes = sorted(real_redis.zcard(f"{base}:gq:{gid}") for gid in map(str, groups))
    assert sizes == [1, 1, 2]
    assert real_redis.hget(base, "grouped") == "1"


def test_an_idempotency_key_replays_the_first_answer(api: TestClient, make_workspace: Make) -> None:
    """The same key and body answer the first answer again (one job, rows added once);
    the same key with another body is 422 naming the key; a failed request frees it."""
    ws = make_workspace()
    body = job_body(ws, rows=rows_of(2))
    keyed = {**h(ws), "Idempotency-Key": "create-1"}
    first = api.post(JOBS, json=body, headers=keyed)
    again = api.post(JOBS, json=body, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(api.get(JOBS, headers=h(ws)).json()["data"]) == 1
    other = api.post(JOBS, json={**body, "name": "other"}, headers=keyed)
    assert "create-1" in assert_error(other, 422)["details"][0]["message"]
    assert assert_error(other, 422)["details"][0]["path"] == "Idempotency-Key"
    url = f"{JOBS}/{first.json()['id']}/rows"
    rows = ndjson(rows_of(5)[2:])
    append_key = {**h(ws), **NDJSON, "Idempotency-Key": "batch-7"}
    added = api.post(url, content=rows, headers=append_key)
    replayed = api.post(url, content=rows, headers=append_key)
    assert added.json() == replayed.json() == {"appended": 3, "duplicates": 0, "rows": 5}
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert api.get(url.removesuffix("/rows"), headers=h(ws)).json()["counts"]["rows"] == 5
    changed = api.post(url, content=ndjson(rows_of(6)[5:]), headers=append_key)
    assert_error(changed, 422)
    bad = {**h(ws), **NDJSON, "Idempotency-Key": "bad-1"}
    assert_error(api.post(url, content=b'{"toNumber": "x"}\n', headers=bad), 422)
    fixed = api.post(url, content=ndjson(rows_of(6)[5:]), headers=bad)
    assert fixed.json()["appended"] == 1, fixed.text


def test_results_of_a_job_not_yet_dialed(api: TestClient, make_workspace: Make) -> None:
    """Every row, appended ones included, is a line (queued, no dial yet); a job of
    another workspace is 404 before any line."""
    ws, other = make_workspace(), make_workspace()
    job_id = create(api, ws, rows=rows_of(2))
    rows = [{"toNumber": "+12125550005", "externalId": "e5", "inputs": {"a": "b"}}]
    api.post(f"{JOBS}/{job_id}/rows", json={"rows": rows}, headers=h(ws))
    csv_body = b"toNumber,callAgentId,lang\n+12125550006,agent-es,es\n"
    api.post(f"{JOBS}/{job_id}/rows", content=csv_body, headers={**h(ws), **CSV})
    queue = api.get(f"{JOBS}/{job_id}/queue", headers=h(ws)).json()["data"]
    assert [q.get("callAgentId") for q in queue] == [None, None, None, "agent-es"]
    assert queue[3]["inputs"] == {"lang": "es"}
    answer = api.get(f"{JOBS}/{job_id}/results", headers=h(ws))
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["outcome"] for line in lines] == ["queued"] * 4
    assert lines[3]["callAgentId"] == "agent-es"
    assert lines[2] == {
        "rowId": f"{job_id}.2",
        "externalId": "e5",
        "callAgentId": None,
        "toNumber": "+12125550005",
        "inputs": {"a": "b"},
        "outcome": "queued",
        "attempts": 0,
        "status": None,
        "startedAt": None,
        "endedAt": None,
        "durationSeconds": None,
    }
    assert_error(api.get(f"{JOBS}/{job_id}/results", headers=h(other)), 404)
    api.post(f"{JOBS}/{job_id}/cancel", headers=h(ws))
    csv_text = api.get(f"{JOBS}/{job_id}/results", headers={**h(ws), "Accept": "text/csv"}).text
    assert csv_text.splitlines()[0].startswith("rowId,externalId,callAgentId,toNumber,inputs,")
    assert csv_text.splitlines()[3].split(",")[5] == "cancelled"


def test_rows_appended_after_recipient_hours_are_turned_off_still_join_a_group(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """A job that grouped its rows keeps releasing from its groups' queues: a row appended
    after recipientHours were turned off gets its group too (or it would never be
    released)."""
    ws = make_workspace()
    hours = {"startTime": "00:00", "endTime": "24:00"}
    body = job_body(ws, rows=[{"toNumber": "+12125550001"}], recipientHours=hours)
    job_id = api.post(JOBS, json=body, headers=h(ws)).json()["id"]
    off = api.put(f"{JOBS}/{job_id}", json={"recipientHours": None}, headers=h(ws))
    assert off.status_code == 200, off.text
    rows = [{"toNumber": "+14155550003"}]
    assert api.post(f"{JOBS}/{job_id}/rows", json={"rows": rows}, headers=h(ws)).is_success
    base = f"{namespace}:{{{ws['workspaceId']}}}:job:{job_id}"
    groups = real_redis.hgetall(f"{base}:groups")
    assert sorted(real_redis.zcard(f"{base}:gq:{gid}") for gid in map(str, groups)) == [1, 1]


def test_external_ids_at_create(api: TestClient, make_workspace: Make) -> None:
    """At create too: a repeated externalId is left out (job.created counts it), a number
    repeats only on rows that all carry an externalId."""
    ws = make_workspace()
    rows = [
        {"toNumber": "+12125550001", "externalId": "a"},
        {"toNumber": "+12125550001", "externalId": "b"},
        {"toNumber": "+12125550002", "externalId": "a"},
    ]
    job = api.post(JOBS, json=job_body(ws, rows=rows), headers=h(ws))
    assert job.status_code == 201, job.text
    assert job.json()["counts"]["rows"] == 2
    created = api.get(f"{JOBS}/{job.json()['id']}/events", headers=h(ws)).json()["data"][0]
    assert created["type"] == "job.created" and created["duplicates"] == 1
    url = f"{JOBS}/{job.json()['id']}/rows"
    again = api.post(
        url, json={"rows": [{"toNumber": "+12125550009", "externalId": "b"}]}, headers=h(ws)
    )
    assert again.json() == {"appended": 0, "duplicates": 1, "rows": 2}
    mixed = [{"toNumber": "+12125550001"}, {"toNumber": "+12125550001", "externalId": "c"}]
    refused = assert_error(api.post(JOBS, json=job_body(ws, rows=mixed), headers=h(ws)), 422)
    assert "rows[1] repeats rows[0]" in refused["details"][0]["message"]


def test_a_multipart_create_takes_the_job_and_its_file_at_once(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """A multipart create (a 'job' part, a 'rows' file part) makes the job with its rows in
    one step; a bad row in the file stores nothing at all, no job either."""
    ws = make_workspace()
    config = job_body(ws)
    del config["rows"]
    csv_file = b"toNumber,customer_name\r\n+12125550001,Ann\r\n+12125550002,Bo\r\n"
    files: dict[str, Any] = {
        "job": (None, json.dumps(config), "application/json"),
        "rows": ("list.csv", csv_file, "text/csv"),
    }
    created = api.post(JOBS, files=files, headers=h(ws))
    assert created.status_code == 201, created.text
    assert created.json()["counts"]["rows"] == 2 and created.json()["status"] == "INIT"
    assert queue_numbers(api, ws, created.json()["id"]) == ["+12125550001", "+12125550002"]
    events = api.get(f"{JOBS}/{created.json()['id']}/events", headers=h(ws)).json()["data"]
    assert [e["type"] for e in events] == ["job.created"] and events[0]["rows"] == 2
    nd = ndjson(rows_of(3))
    as_ndjson: dict[str, Any] = {**files, "rows": ("list.ndjson", nd, "application/x-ndjson")}
    assert api.post(JOBS, files=as_ndjson, headers=h(ws)).json()["counts"]["rows"] == 3
    bad: dict[str, Any] = {
        **files,
        "rows": ("list.csv", csv_file + b"+1234567890,Cy\r\n", "text/csv"),
    }
    refused = assert_error(api.post(JOBS, files=bad, headers=h(ws)), 422)
    assert refused["details"][0]["path"] == "rows[2].toNumber"
    assert refused["details"][0]["message"].startswith("line 4: ")
    assert len(api.get(JOBS, headers=h(ws)).json()["data"]) == 2
    assert not list(real_redis.scan_iter(match=f"{namespace}:*:up:*"))
    wrong: dict[str, Any] = {"rows": files["rows"], "job": files["job"]}
    assert_error(api.post(JOBS, files=wrong, headers=h(ws)), 400)
