"""Issue 7 fields through the HTTP API: validation with paths, what a job and its queue
show, and which changes PUT accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.bodies import job_body
from tests.support.http import h

Make = Callable[..., dict[str, Any]]

JOBS = "/api/batch_dial_jobs"


def problems(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {d["path"]: d["message"] for d in response.json()["error"]["details"]}


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ({"recipientHours": {"startTime": "21:00", "endTime": "08:00"}}, "recipientHours", "after"),
        (
            {"recipientHours": {"startTime": "8:00", "endTime": "21:00"}},
            "recipientHours.startTime",
            "HH:MM",
        ),
        ({"retry": {"maxAttempts": 0}}, "retry.maxAttempts", "greater than or equal to 1"),
        ({"retry": {"maxAttempts": 11}}, "retry.maxAttempts", "less than or equal to 10"),
        (
            {"retry": {"maxAttempts": 2, "on": ["completed"]}},
            "retry.on",
            "cannot retry on 'completed'",
        ),
        ({"retry": {"maxAttempts": 2, "on": ["opted-out"]}}, "retry.on", "cannot retry"),
        (
            {"retry": {"maxAttempts": 2, "backoffSeconds": [-1]}},
            "retry.backoffSeconds",
            "backoffSeconds[0]",
        ),
        ({"retry": {"maxAttempts": 2, "backoffSeconds": []}}, "retry.backoffSeconds", "at least 1"),
        ({"retry": {"maxAttempts": 2, "tries": 3}}, "retry.tries", "not a known field"),
    ],
)
def test_bad_fields_are_named(
    api: TestClient, make_workspace: Make, extra: dict[str, Any], path: str, words: str
) -> None:
    """Each invalid calling-rules field is refused with its path and a message that says why."""
    ws = make_workspace()
    found = problems(api.post(JOBS, json=job_body(ws, **extra), headers=h(ws)))
    assert path in found, found
    assert words in found[path], found[path]


def test_a_row_timezone_must_be_an_iana_name(api: TestClient, make_workspace: Make) -> None:
    """A row timezone that is not an IANA name is refused on that row."""
    ws = make_workspace()
    body = job_body(ws, rows=2)
    body["rows"][1]["timezone"] = "Mars/Olympus"
    found = problems(api.post(JOBS, json=body, headers=h(ws)))
    assert "IANA" in found["rows[1].timezone"]


def test_job_and_queue_show_the_new_fields(api: TestClient, make_workspace: Make) -> None:
    """The job view shows recipientHours and the retry policy with its defaults; the queue shows
    each row's zones and where they came from."""
    ws = make_workspace()
    body = job_body(
        ws,
        rows=2,
        recipientHours={"startTime": "08:00", "endTime": "21:00"},
        retry={"maxAttempts": 3},
    )
    body["rows"].append({"toNumber": "+97714212345", "timezone": "America/Chicago"})
    body["rows"].append({"toNumber": "+447911123456"})
    job = api.post(JOBS, json=body, headers=h(ws)).json()
    assert job["recipientHours"] == {"startTime": "08:00", "endTime": "21:00"}
    assert job["retry"] == {
        "maxAttempts": 3,
        "on": ["no-answer", "busy", "failed"],
        "backoffSeconds": [300],
    }
    queue = api.get(f"{JOBS}/{job['id']}/queue", headers=h(ws)).json()["data"]
    assert [(q["timezones"], q["timezoneSource"]) for q in queue] == [
        (["America/New_York"], "number"),
        (["America/New_York"], "number"),
        (["America/Chicago"], "row"),
        (["Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey", "Europe/London"], "number"),
    ]
    assert {q["waitingFor"] for q in queue} == {"paused"}


def test_a_number_without_a_known_zone_uses_the_job_timezone(
    api: TestClient, make_workspace: Make
) -> None:
    """A number in no time zone (international freephone) takes the job's timezone."""
    ws = make_workspace()
    # +800: international freephone, valid but in no time zone.
    body = job_body(ws, rows=0, recipientHours={"startTime": "08:00", "endTime": "21:00"})
    body["rows"] = [{"toNumber": "+80012345678"}]
    created = api.post(JOBS, json=body, headers=h(ws))
    assert created.status_code == 201, created.text
    queue = api.get(f"{JOBS}/{created.json()['id']}/queue", headers=h(ws)).json()["data"]
    assert queue[0]["timezones"] == ["America/New_York"]
    assert queue[0]["timezoneSource"] == "job"


def test_recipient_hours_can_change_but_only_be_turned_on_at_create(
    api: TestClient, make_workspace: Make
) -> None:
    """recipientHours can be changed on a job that has them but not added to one created without
    them."""
    ws = make_workspace()
    plain = api.post(JOBS, json=job_body(ws), headers=h(ws)).json()
    refused = api.put(
        f"{JOBS}/{plain['id']}",
        json={"recipientHours": {"startTime": "08:00", "endTime": "21:00"}},
        headers=h(ws),
    )
    assert "only be set when the job is created" in problems(refused)["recipientHours"]
    grouped = api.post(
        JOBS,
        json=job_body(ws, recipientHours={"startTime": "08:00", "endTime": "21:00"}),
        headers=h(ws),
    ).json()
    changed = api.put(
        f"{JOBS}/{grouped['id']}",
        json={"recipientHours": {"startTime": "09:00", "endTime": "17:00"}, "retry": None},
        headers=h(ws),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["recipientHours"] == {"startTime": "09:00", "endTime": "17:00"}
    off = api.put(f"{JOBS}/{grouped['id']}", json={"recipientHours": None}, headers=h(ws))
    assert off.status_code == 200 and off.json()["recipientHours"] is None


def test_hours_that_never_meet_the_job_schedule_are_refused(
    api: TestClient, make_workspace: Make
) -> None:
    """New York 09:00-17:00 is 23:00-07:00 in Tokyo: a Tokyo recipient with hours
    09:00-17:00 could never be called, so the job would never complete."""
    ws = make_workspace()
    days = [
        {"dayOfWeek": d, "timeSlots": [{"startTime": "09:00", "endTime": "17:00"}]}
        for d in range(7)
    ]
    body = job_body(
        ws,
        rows=1,
        schedule={"days": days, "timezone": "America/New_York"},
        recipientHours={"startTime": "09:00", "endTime": "17:00"},
    )
    body["rows"].append({"toNumber": "+81312345678", "timezone": "Asia/Tokyo"})
    found = problems(api.post(JOBS, json=body, headers=h(ws)))
    assert list(found) == ["rows[1].timezone"]
    assert "never falls inside the job's schedule" in found["rows[1].timezone"]
    body["rows"].pop()
    job = api.post(JOBS, json=body, headers=h(ws)).json()
    # Moving the schedule to Tokyo's night leaves the New York rows no hour: refused too.
    tokyo_days = [dict(d, timeSlots=[{"startTime": "09:00", "endTime": "17:00"}]) for d in days]
    refused = api.put(
        f"{JOBS}/{job['id']}",
        json={"schedule": {"days": tokyo_days, "timezone": "Asia/Tokyo"}},
        headers=h(ws),
    )
    assert "never falls inside the job's schedule" in problems(refused)["recipientHours"]
