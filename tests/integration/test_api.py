"""The HTTP API of SPEC §4 against a real Redis: every route, every 4xx, isolation."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from tests.support.bodies import job_body
from tests.support.http import assert_error, h

Make = Callable[..., dict[str, Any]]
JOBS = "/api/batch_dial_jobs"


def create(api: TestClient, ws: dict[str, Any], **kw: Any) -> dict[str, Any]:
    rows = kw.pop("rows", 3)
    response = api.post(JOBS, json=job_body(ws, rows=rows, **kw), headers=h(ws))
    assert response.status_code == 201, response.text
    return dict(response.json())


def events(api: TestClient, ws: dict[str, Any], job_id: str) -> list[dict[str, Any]]:
    response = api.get(f"{JOBS}/{job_id}/events", params={"limit": 500}, headers=h(ws))
    assert response.status_code == 200
    return list(response.json()["data"])


def namespace_keys(client: redis.Redis, namespace: str) -> set[str]:
    return {str(k) for k in client.scan_iter(match=f"{namespace}:*")}


# -- auth ----------------------------------------------------------------------


def test_requests_without_a_valid_key_are_401(api: TestClient, make_workspace: Make) -> None:
    """No key, a wrong key or a malformed Authorization header answer 401."""
    ws = make_workspace()
    assert_error(api.get(JOBS), 401, "unauthorized")
    assert_error(api.get(JOBS, headers={"api_key": "bd_wrong"}), 401)
    assert_error(api.get(JOBS, headers={"Authorization": "Basic abc"}), 401)
    assert_error(api.get(JOBS, headers={"Authorization": "Bearer "}), 401)
    assert api.get(JOBS, headers={"Authorization": f"Bearer {ws['apiKey']}"}).status_code == 200
    assert api.get(JOBS, headers=h(ws)).status_code == 200


def test_api_keys_are_stored_only_as_hashes(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """No Redis value holds the plain API key."""
    ws = make_workspace()
    for key in namespace_keys(real_redis, namespace):
        if real_redis.type(key) == "hash":
            blob = json.dumps(real_redis.hgetall(key))
            assert ws["apiKey"] not in blob


# -- create --------------------------------------------------------------------


def test_create_returns_the_job_in_init(api: TestClient, make_workspace: Make) -> None:
    """A valid create answers 201 with the job object, state INIT, counters set."""
    ws = make_workspace()
    job = create(api, ws, rows=4)
    assert job["status"] == "INIT"
    assert job["id"].startswith("job_")
    assert job["name"] == "Customer Survey Campaign"
    assert job["callAgentId"] == "agent-1"
    assert job["maxConcurrentDials"] == 5
    assert job["fromPhoneNumberIds"] == [ws["phoneNumbers"][0]["id"]]
    assert job["schedule"]["timezone"] == "America/New_York"
    assert job["pendingConfig"] is None
    assert job["counts"] == {
        "rows": 4,
        "queued": 4,
        "held": 0,
        "inProgress": 0,
        "finished": 0,
        "cancelled": 0,
        "byStatus": {},
        "outcomes": {},
    }
    assert job["createdAt"].endswith("Z")
    assert api.get(f"{JOBS}/{job['id']}", headers=h(ws)).json() == job
    assert [e["type"] for e in events(api, ws, job["id"])] == ["job.created"]


def test_invalid_create_stores_nothing_and_lists_every_problem(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """A refused create answers 422 with each problem's path and leaves Redis unchanged."""
    ws = make_workspace()
    before = namespace_keys(real_redis, namespace)
    body = job_body(ws, rows=5)
    body["rows"][3]["toNumber"] = "+1234567890"
    body["maxConcurrentDials"] = 11
    error = assert_error(api.post(JOBS, json=body, headers=h(ws)), 422, "invalid_input")
    paths = {d["path"]: d["message"] for d in error["details"]}
    assert set(paths) == {"rows[3].toNumber", "maxConcurrentDials"}
    assert "too short" in paths["rows[3].toNumber"]
    assert namespace_keys(real_redis, namespace) == before


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"\xff\xfe\x00", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 400),
        (b"name=x", {"content-type": "application/x-www-form-urlencoded"}, 400),
        (b"[" * 5000 + b"]" * 5000, {"content-type": "application/json"}, 400),
    ],
)
def test_malformed_bodies_are_400(
    api: TestClient, make_workspace: Make, data: bytes, headers: dict[str, str], status: int
) -> None:
    """Bodies that are not a JSON object are refused with a clear 400."""
    ws = make_workspace()
    assert_error(api.post(JOBS, content=data, headers={**h(ws), **headers}), status)


def test_bodies_over_the_limit_are_413(api: TestClient, make_workspace: Make) -> None:
    """A body over max_body_bytes is refused with 413, announced or streamed."""
    ws = make_workspace()
    big = json.dumps(job_body(ws, rows=1, name="x" * 1_200_000)).encode()
    assert_error(
        api.post(JOBS, content=big, headers={**h(ws), "content-type": "application/json"}),
        413,
        "too_large",
    )

    def chunks() -> Any:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    streamed = api.post(
        JOBS, content=chunks(), headers={**h(ws), "content-type": "application/json"}
    )
    assert_error(streamed, 413)


def test_too_many_rows_are_refused(api: TestClient, make_workspace: Make) -> None:
    """More rows than the configured limit is a 422 on `rows`."""
    ws = make_workspace()
    error = assert_error(api.post(JOBS, json=job_body(ws, rows=2001), headers=h(ws)), 422)
    assert error["details"][0]["path"] == "rows"


# -- isolation -------------------------------------------------------------------


def test_another_workspaces_job_is_404_on_every_route(
    api: TestClient, make_workspace: Make
) -> None:
    """Every route that takes a job id answers 404 to another workspace and changes nothing."""
    owner, other = make_workspace(), make_workspace()
    job = create(api, owner)
    before = events(api, owner, job["id"])
    base = f"{JOBS}/{job['id']}"
    calls = [
        ("GET", base, None),
        ("PUT", base, {"maxConcurrentDials": 1}),
        ("POST", f"{base}/paused", {"paused": False}),
        ("POST", f"{base}/cancel", None),
        ("GET", f"{base}/queue", None),
        ("GET", f"{base}/dials", None),
        ("GET", f"{base}/events", None),
        ("GET", f"{base}/forecast", None),
        ("POST", f"{base}/rows", {"rows": [{"toNumber": "+12125559999"}]}),
        ("GET", f"{base}/results", None),
        ("POST", f"{base}/retry", {"outcomes": ["no-answer"]}),
    ]
    routes_with_id = {
        (method.upper(), path)
        for path, operations in api.get("/openapi.json").json()["paths"].items()
        if "{job_id}" in path
        for method in operations
    }
    assert routes_with_id == {(m, p.replace(job["id"], "{job_id}")) for m, p, _ in calls}
    for method, path, payload in calls:
        response = api.request(method, path, json=payload, headers=h(other))
        assert_error(response, 404, "not_found")
        assert (
            api.request(
                method, path.replace(job["id"], "job_nope"), json=payload, headers=h(owner)
            ).status_code
            == 404
        )
    assert events(api, owner, job["id"]) == before
    assert api.get(base, headers=h(owner)).json()["status"] == "INIT"
    assert api.get(JOBS, headers=h(other)).json() == {"data": [], "nextCursor": None}


def test_pool_numbers_of_another_workspace_are_refused(
    api: TestClient, make_workspace: Make
) -> None:
    """A job may only use its own workspace's numbers."""
    owner, other = make_workspace(), make_workspace()
    body = job_body(owner, fromPhoneNumberIds=[other["phoneNumbers"][0]["id"]])
    error = assert_error(api.post(JOBS, json=body, headers=h(owner)), 422)
    assert error["details"][0]["path"] == "fromPhoneNumberIds"


# -- lifecycle -------------------------------------------------------------------


def test_start_pause_resume_with_events(api: TestClient, make_workspace: Make) -> None:
    """paused:false starts, paused:true pauses, paused:false resumes; repeats are no-ops."""
    ws = make_workspace()
    job = create(api, ws)
    url = f"{JOBS}/{job['id']}/paused"
    assert api.post(url, json={"paused": True}, headers=h(ws)).json()["status"] == "INIT"
    assert api.post(url, json={"paused": False}, headers=h(ws)).json()["status"] == "ACTIVE"
    assert api.post(url, json={"paused": False}, headers=h(ws)).json()["status"] == "ACTIVE"
    assert api.post(url, json={"paused": True}, headers=h(ws)).json()["status"] == "PAUSED"
    assert api.post(url, json={"paused": True}, headers=h(ws)).json()["status"] == "PAUSED"
    assert api.post(url, json={"paused": False}, headers=h(ws)).json()["status"] == "ACTIVE"
    log = events(api, ws, job["id"])
    assert [(e["type"], e.get("from"), e.get("to")) for e in log] == [
        ("job.created", None, "INIT"),
        ("job.started", "INIT", "ACTIVE"),
        ("job.paused", "ACTIVE", "PAUSED"),
        ("job.resumed", "PAUSED", "ACTIVE"),
    ]
    assert all(e["jobId"] == job["id"] for e in log)
    assert_error(api.post(url, json={"paused": "yes"}, headers=h(ws)), 422)
    assert_error(api.post(url, json={}, headers=h(ws)), 422)


def test_a_job_without_rows_refuses_to_start(api: TestClient, make_workspace: Make) -> None:
    """A job created without rows waits for its appends (issue 17): starting it answers
    409 saying so, instead of completing at once having called nobody."""
    ws = make_workspace()
    job = create(api, ws, rows=0)
    url = f"{JOBS}/{job['id']}"
    start = api.post(f"{url}/paused", json={"paused": False}, headers=h(ws))
    assert "no rows yet" in assert_error(start, 409, "conflict")["message"]
    assert [e["type"] for e in events(api, ws, job["id"])] == ["job.created"]
    assert api.get(url, headers=h(ws)).json()["status"] == "INIT"


def test_update_applies_at_once_when_not_active(api: TestClient, make_workspace: Make) -> None:
    """On INIT (and PAUSED) an update changes the running configuration at once."""
    ws = make_workspace()
    job = create(api, ws)
    pool = [p["id"] for p in ws["phoneNumbers"]]
    response = api.put(
        f"{JOBS}/{job['id']}",
        json={
            "maxConcurrentDials": 2,
            "name": "Renamed",
            "fromPhoneNumberIds": pool,
            "schedule": None,
        },
        headers=h(ws),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["maxConcurrentDials"], updated["name"]) == (2, "Renamed")
    assert updated["fromPhoneNumberIds"] == pool
    assert updated["schedule"] is None
    assert updated["pendingConfig"] is None
    log = events(api, ws, job["id"])
    assert [e["type"] for e in log][-2:] == ["job.updated", "job.config_applied"]
    assert log[-2]["changes"] == ["fromPhoneNumberIds", "maxConcurrentDials", "name", "schedule"]


def test_update_of_an_active_job_is_staged_until_pause(
    api: TestClient, make_workspace: Make
) -> None:
    """While ACTIVE an update is staged in pendingConfig and applied when the job pauses."""
    ws = make_workspace()
    job = create(api, ws)
    url = f"{JOBS}/{job['id']}"
    api.post(f"{url}/paused", json={"paused": False}, headers=h(ws))
    staged = api.put(url, json={"maxConcurrentDials": 1}, headers=h(ws)).json()
    assert staged["maxConcurrentDials"] == 5
    assert staged["pendingConfig"]["maxConcurrentDials"] == 1
    staged = api.put(url, json={"name": "Later"}, headers=h(ws)).json()
    assert staged["pendingConfig"]["maxConcurrentDials"] == 1
    assert staged["pendingConfig"]["name"] == "Later"
    assert staged["name"] == "Customer Survey Campaign"
    paused = api.post(f"{url}/paused", json={"paused": True}, headers=h(ws)).json()
    assert (paused["maxConcurrentDials"], paused["name"]) == (1, "Later")
    assert paused["pendingConfig"] is None
    types = [e["type"] for e in events(api, ws, job["id"])]
    assert types[-4:] == ["job.updated", "job.updated", "job.paused", "job.config_applied"]


def test_bad_updates_are_refused(api: TestClient, make_workspace: Make) -> None:
    """Invalid, empty or unknown-field updates answer 422 and change nothing."""
    ws = make_workspace(dial_limit=3)
    job = create(api, ws, maxConcurrentDials=2)
    url = f"{JOBS}/{job['id']}"
    assert_error(api.put(url, json={}, headers=h(ws)), 422)
    assert_error(api.put(url, json={"maxConcurrentDials": 4}, headers=h(ws)), 422)
    assert_error(api.put(url, json={"rows": []}, headers=h(ws)), 422)
    assert_error(api.put(url, json={"schedule": {"days": [], "timezone": "x"}}, headers=h(ws)), 422)
    assert api.get(url, headers=h(ws)).json() == job


def test_cancel_marks_waiting_rows_cancelled(api: TestClient, make_workspace: Make) -> None:
    """Cancel is terminal: queued rows become cancelled; repeating it is a no-op."""
    ws = make_workspace()
    job = create(api, ws, rows=6)
    url = f"{JOBS}/{job['id']}"
    api.post(f"{url}/paused", json={"paused": False}, headers=h(ws))
    cancelled = api.post(f"{url}/cancel", headers=h(ws)).json()
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["counts"]["cancelled"] == 6
    assert cancelled["counts"]["queued"] == 0
    assert api.post(f"{url}/cancel", headers=h(ws)).json()["counts"]["cancelled"] == 6
    assert api.get(f"{url}/queue", headers=h(ws)).json() == {"data": [], "nextCursor": None}
    log = events(api, ws, job["id"])
    assert [e["type"] for e in log].count("job.cancelled") == 1
    assert log[-1]["cancelledRows"] == 6
    assert_error(api.post(f"{url}/paused", json={"paused": False}, headers=h(ws)), 409)
    assert_error(api.put(url, json={"name": "x"}, headers=h(ws)), 409)


def test_cancel_with_nothing_waiting_is_not_a_500(api: TestClient, make_workspace: Make) -> None:
    """A job with no waiting row (here: an INIT job without rows) cancels with 200.

    Regression (issue 12, schemathesis' stateful phase): cancel_job.lua wrote the
    decrement as ``-n``; with n = 0 Lua formats it ``-0``, which HINCRBY refuses
    ("value is not an integer or out of range"), so the cancel answered 500.
    """
    ws = make_workspace()
    job = create(api, ws, rows=0)
    cancelled = api.post(f"{JOBS}/{job['id']}/cancel", headers=h(ws))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["counts"]["cancelled"] == 0
    assert [e["type"] for e in events(api, ws, job["id"])].count("job.cancelled") == 1


# -- lists -----------------------------------------------------------------------


def test_queue_pages_in_dialing_order(api: TestClient, make_workspace: Make) -> None:
    """The queue lists rows by index, page by page through nextCursor."""
    ws = make_workspace()
    job = create(api, ws, rows=7)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"{JOBS}/{job['id']}/queue", params=params, headers=h(ws)).json()
        seen += page["data"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [r["index"] for r in seen] == list(range(7))
    assert seen[2] == {
        "rowId": f"{job['id']}.2",
        "index": 2,
        "toNumber": "+12125550002",
        "inputs": {"customer_name": "C2"},
        "attempt": 1,
        "waitingFor": "paused",
        "nextEligibleAt": None,
    }


@pytest.mark.parametrize("route", ["", "/queue", "/dials", "/events"])
@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "%%"}])
def test_bad_paging_parameters_are_refused(
    api: TestClient, make_workspace: Make, route: str, params: dict[str, Any]
) -> None:
    """limit outside 1..500 and cursors the list did not give out are 4xx errors."""
    ws = make_workspace()
    job = create(api, ws)
    url = JOBS if route == "" else f"{JOBS}/{job['id']}{route}"
    error = assert_error(api.get(url, params=params, headers=h(ws)), 422)
    assert error["details"][0]["path"] in {"limit", "cursor"}


def test_jobs_list_newest_first_with_cursor(api: TestClient, make_workspace: Make) -> None:
    """The workspace's jobs come newest first, page by page."""
    ws = make_workspace()
    ids = [create(api, ws, rows=1, name=f"job {i}")["id"] for i in range(5)]
    first = api.get(JOBS, params={"limit": 2}, headers=h(ws)).json()
    second = api.get(JOBS, params={"limit": 2, "cursor": first["nextCursor"]}, headers=h(ws)).json()
    third = api.get(JOBS, params={"limit": 2, "cursor": second["nextCursor"]}, headers=h(ws)).json()
    listed = [j["id"] for page in (first, second, third) for j in page["data"]]
    assert listed == ids[::-1]
    assert third["nextCursor"] is None


def test_dials_list_is_empty_before_any_dial(api: TestClient, make_workspace: Make) -> None:
    """A job that never dialed has no dials."""
    ws = make_workspace()
    job = create(api, ws)
    assert api.get(f"{JOBS}/{job['id']}/dials", headers=h(ws)).json() == {
        "data": [],
        "nextCursor": None,
    }


def test_events_resume_from_a_kept_cursor(api: TestClient, make_workspace: Make) -> None:
    """A client that keeps the last event id reads only what came after it."""
    ws = make_workspace()
    job = create(api, ws)
    url = f"{JOBS}/{job['id']}"
    first = api.get(f"{url}/events", headers=h(ws)).json()
    assert first["nextCursor"] is None
    kept = first["data"][-1]["id"]
    api.post(f"{url}/paused", json={"paused": False}, headers=h(ws))
    api.post(f"{url}/paused", json={"paused": True}, headers=h(ws))
    later = api.get(f"{url}/events", params={"cursor": kept}, headers=h(ws)).json()
    assert [e["type"] for e in later["data"]] == ["job.started", "job.paused"]
    one = api.get(f"{url}/events", params={"cursor": kept, "limit": 1}, headers=h(ws)).json()
    assert one["nextCursor"] == one["data"][0]["id"]


# -- atomicity ---------------------------------------------------------------------


def test_concurrent_transitions_each_have_one_event_in_order(
    api: TestClient, make_workspace: Make
) -> None:
    """Racing pause/resume calls: every change has its event, and events chain from→to."""
    ws = make_workspace()
    job = create(api, ws)
    url = f"{JOBS}/{job['id']}/paused"
    api.post(url, json={"paused": False}, headers=h(ws))
    errors: list[int] = []

    def toggle(paused: bool) -> None:
        for _ in range(15):
            status = api.post(url, json={"paused": paused}, headers=h(ws)).status_code
            if status != 200:
                errors.append(status)

    threads = [threading.Thread(target=toggle, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    log = [e for e in events(api, ws, job["id"]) if "to" in e]
    for previous, current in itertools.pairwise(log):
        assert current["from"] == previous["to"]
    final = api.get(f"{JOBS}/{job['id']}", headers=h(ws)).json()["status"]
    assert log[-1]["to"] == final


# -- service routes ----------------------------------------------------------------


def test_service_routes(api: TestClient) -> None:
    """healthz, readyz, metrics and the OpenAPI document answer."""
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    metrics = api.get("/metrics")
    assert "batchdial_http_requests_total" in metrics.text
    doc = api.get("/openapi.json").json()
    assert "/api/batch_dial_jobs/{job_id}/paused" in doc["paths"]
    assert "JobCreate" in doc["components"]["schemas"]
    assert_error(api.get("/api/nope"), 404, "not_found")
