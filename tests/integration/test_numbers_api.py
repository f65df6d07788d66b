"""Issue 19: a workspace's numbers and API keys by API — add, change, rest, delete a
number (out of the pools of unfinished jobs with an event; refused while it is a pool's
last), rotate API keys without downtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from domain.pagination import collect
from tests.support.bodies import job_body
from tests.support.http import h, producer_of

Make = Callable[..., dict[str, Any]]
NUMBERS = "/api/phone_numbers"
KEYS = "/api/workspace/api_keys"


def test_add_change_rest_and_restore_a_number(api: TestClient, make_workspace: Make) -> None:
    ws = make_workspace()
    added = api.post(
        NUMBERS, json={"number": "+1 305 555 0100", "maxConcurrentDials": 2}, headers=h(ws)
    )
    assert added.status_code == 201, added.text
    number = added.json()
    assert number["number"] == "+13055550100" and number["maxConcurrentDials"] == 2
    assert number["resting"] is False
    again = api.post(
        NUMBERS, json={"number": "+13055550100", "maxConcurrentDials": 1}, headers=h(ws)
    )
    assert again.status_code == 409
    bad = api.post(NUMBERS, json={"number": "+1234", "maxConcurrentDials": 0}, headers=h(ws))
    assert {d["path"] for d in bad.json()["error"]["details"]} == {"number", "maxConcurrentDials"}
    url = f"{NUMBERS}/{number['id']}"
    rested = api.patch(url, json={"resting": True, "maxConcurrentDials": 4}, headers=h(ws))
    assert rested.status_code == 200, rested.text
    assert (rested.json()["resting"], rested.json()["maxConcurrentDials"]) == (True, 4)
    listed = api.get("/api/workspace", headers=h(ws)).json()["phoneNumbers"]
    assert {n["id"]: n["resting"] for n in listed}[number["id"]] is True
    restored = api.patch(url, json={"resting": False}, headers=h(ws)).json()
    assert restored["resting"] is False
    assert api.patch(url, json={}, headers=h(ws)).status_code == 422
    assert (
        api.patch(f"{NUMBERS}/pn_nothere", json={"resting": True}, headers=h(ws)).status_code == 404
    )


def test_delete_takes_a_number_out_of_running_pools_with_an_event(
    api: TestClient, make_workspace: Make
) -> None:
    """A number in an ACTIVE job's pool of two leaves it (job.phone_number_removed, the job
    shows the smaller pool); the pool's last number is then refused (409), naming the job."""
    ws = make_workspace()
    first, second = (n["id"] for n in ws["phoneNumbers"])
    body = job_body(ws, rows=2, every_number=True)
    job = api.post("/api/batch_dial_jobs", json=body, headers=h(ws)).json()
    assert (
        api.post(
            f"/api/batch_dial_jobs/{job['id']}/paused", json={"paused": False}, headers=h(ws)
        ).status_code
        == 200
    )
    deleted = api.delete(f"{NUMBERS}/{first}", headers=h(ws))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removedFromJobs"] == [job["id"]]
    view = api.get(f"/api/batch_dial_jobs/{job['id']}", headers=h(ws)).json()
    assert view["fromPhoneNumberIds"] == [second] and view["status"] == "ACTIVE"
    producer = producer_of(api)
    events = collect(lambda **kw: producer.events(ws["workspaceId"], job["id"], **kw))
    removed = [e for e in events if e["type"] == "job.phone_number_removed"]
    assert [(e["numberId"], e["number"]) for e in removed] == [
        (first, ws["phoneNumbers"][0]["number"])
    ]
    last = api.delete(f"{NUMBERS}/{second}", headers=h(ws))
    assert last.status_code == 409 and job["id"] in last.json()["error"]["message"]
    assert [n["id"] for n in api.get("/api/workspace", headers=h(ws)).json()["phoneNumbers"]] == [
        second
    ]


def test_api_keys_rotate_without_downtime(api: TestClient, make_workspace: Make) -> None:
    """A new key works beside the old one; revoking the old one shuts it out at once; the
    last key cannot be revoked; keys are listed by id, never shown again."""
    ws = make_workspace()
    old = {"api_key": ws["apiKey"]}
    made = api.post(KEYS, headers=old)
    assert made.status_code == 201, made.text
    new = {"api_key": made.json()["apiKey"]}
    assert api.get("/api/workspace", headers=new).status_code == 200
    keys = api.get("/api/workspace", headers=new).json()["apiKeys"]
    assert len(keys) == 2 and all("apiKey" not in k for k in keys)
    old_id = next(k["id"] for k in keys if k["id"] != made.json()["id"])
    assert api.delete(f"{KEYS}/key_nothere", headers=new).status_code == 404
    assert api.delete(f"{KEYS}/{old_id}", headers=new).status_code == 200
    assert api.get("/api/workspace", headers=old).status_code == 401
    assert api.get("/api/workspace", headers=new).status_code == 200
    last = api.delete(f"{KEYS}/{made.json()['id']}", headers=new)
    assert last.status_code == 409
    assert api.get("/api/workspace", headers=new).status_code == 200
