"""Issue 19 at create, through the HTTP API: callingRules us-tcpa refuses rows its rules
never let be called (naming the row), a telemarketing job refuses rows without express
written consent (naming each), and the job and its queue show the new fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.support.bodies import job_body
from tests.support.http import h

Make = Callable[..., dict[str, Any]]
JOBS = "/api/batch_dial_jobs"
SUNDAY_ONLY = {
    "days": [{"dayOfWeek": 0, "timeSlots": [{"startTime": "09:00", "endTime": "17:00"}]}],
    "timezone": "America/Chicago",
}


def problems(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {d["path"]: d["message"] for d in response.json()["error"]["details"]}


def test_rows_the_rules_never_allow_are_refused_by_name(
    api: TestClient, make_workspace: Make
) -> None:
    """A Sunday-only job under us-tcpa: an Alabama row (no Sunday calls) is refused at its
    number, a row whose state is given as Utah at its state; New York rows are fine."""
    ws = make_workspace()
    body = job_body(ws, rows=0, schedule=SUNDAY_ONLY, callingRules="us-tcpa")
    body["rows"] = [
        {"toNumber": "+12125550101"},
        {"toNumber": "+12055550102"},
        {"toNumber": "+12125550103", "state": "ut"},
    ]
    found = problems(api.post(JOBS, json=body, headers=h(ws)))
    assert set(found) == {"rows[1].toNumber", "rows[2].state"}, found
    assert "us-tcpa AL" in found["rows[1].toNumber"]
    assert "us-tcpa UT" in found["rows[2].state"]
    body["rows"] = [body["rows"][0]]
    assert api.post(JOBS, json=body, headers=h(ws)).status_code == 201


def test_a_state_must_be_a_us_state(api: TestClient, make_workspace: Make) -> None:
    ws = make_workspace()
    body = job_body(ws, rows=1)
    body["rows"][0]["state"] = "XX"
    assert "two-letter" in problems(api.post(JOBS, json=body, headers=h(ws)))["rows[0].state"]


def test_telemarketing_refuses_each_row_without_written_consent(
    api: TestClient, make_workspace: Make
) -> None:
    """Rows without consent, with 'express' or 'none' are each named; informational
    jobs take them all."""
    ws = make_workspace()
    written = {"type": "express_written", "capturedAt": "2026-11-30T10:00:00Z", "source": "form-7"}
    body = job_body(ws, rows=5, purpose="telemarketing")
    body["rows"][0]["consent"] = written
    body["rows"][1]["consent"] = {"type": "express"}
    body["rows"][2]["consent"] = {"type": "none"}
    body["rows"][4]["consent"] = written
    found = problems(api.post(JOBS, json=body, headers=h(ws)))
    assert set(found) == {"rows[1].consent", "rows[2].consent", "rows[3].consent"}, found
    assert "'express'" in found["rows[1].consent"]
    assert "no consent" in found["rows[3].consent"]
    body["purpose"] = "informational"
    created = api.post(JOBS, json=body, headers=h(ws))
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["purpose"], job["callerId"], job["callingRules"]) == (
        "informational",
        "spread",
        None,
    )
    queue = api.get(f"{JOBS}/{job['id']}/queue", headers=h(ws)).json()["data"]
    assert queue[0]["consent"] == written
    assert queue[1]["consent"] == {"type": "express"}
    assert "consent" not in queue[3] or queue[3]["consent"] is None


def test_queue_shows_state_and_where_it_came_from(api: TestClient, make_workspace: Make) -> None:
    ws = make_workspace()
    body = job_body(ws, rows=0, schedule=None, callingRules="us-tcpa", callerId="local")
    body["rows"] = [{"toNumber": "+13055550101"}, {"toNumber": "+13055550102", "state": "NY"}]
    created = api.post(JOBS, json=body, headers=h(ws))
    assert created.status_code == 201, created.text
    assert created.json()["callingRules"] == "us-tcpa"
    assert created.json()["callerId"] == "local"
    queue = api.get(f"{JOBS}/{created.json()['id']}/queue", headers=h(ws)).json()["data"]
    assert [(q["state"], q["stateSource"]) for q in queue] == [("FL", "number"), ("NY", "row")]
    assert all(q["waitingFor"] == "paused" for q in queue)
