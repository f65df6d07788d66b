"""GET /api/batch_dial_jobs/{id}/forecast: its inputs taken from the job, its dials and
its workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from domain.pagination import Page
from producer.forecasts import job_forecast
from tests.support.bodies import job_body
from tests.support.http import h

JOBS = "/api/batch_dial_jobs"
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def _job(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": "job_1",
        "status": "ACTIVE",
        "maxConcurrentDials": 5,
        "fromPhoneNumberIds": ["pn_a", "pn_b"],
        "schedule": None,
        "disableSchedule": False,
        "recipientHours": None,
        "counts": {"queued": 28, "inProgress": 2},
    }
    return {**job, **overrides}


WORKSPACE = {
    "dialLimit": 3,
    "phoneNumbers": [
        {"id": "pn_a", "maxConcurrentDials": 2},
        {"id": "pn_b", "maxConcurrentDials": 2},
        {"id": "pn_c", "maxConcurrentDials": 9},
    ],
    "maxDialsPerSecond": None,
}


def _dials(*seconds: float) -> Callable[[int], Page]:
    start = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    data: list[dict[str, Any]] = [
        {
            "startedAt": start.isoformat().replace("+00:00", "Z"),
            "endedAt": (start + timedelta(seconds=s)).isoformat().replace("+00:00", "Z"),
        }
        for s in seconds
    ]
    data.append({"startedAt": start.isoformat(), "endedAt": None})  # still in progress
    return lambda limit: Page(data[:limit])


def test_measured_mean_concurrency_and_pacing() -> None:
    """Mean of the ended dials (30 s, 50 s: 40 s); concurrency min(cap 5, dial limit 3,
    pool 2 + 2) = 3; 30 rows left x 40 s / 3 = 400 s, always open: done at now + 400 s.
    A pace of 0.05 dials/s (below 3/40) makes it 30 / 0.05 = 600 s."""
    answer = job_forecast(_job(), WORKSPACE, _dials(30, 50), now=NOW)
    assert answer["meanCallSeconds"] == 40
    assert answer["meanCallSecondsSource"] == "measured"
    assert answer["measuredDials"] == 2
    assert answer["concurrency"] == 3
    assert answer["rowsLeft"] == 30
    assert answer["finishAt"] == "2026-12-07T15:06:40.000Z"
    assert answer["days"] == [{"date": "2026-12-07", "dialingHours": round(400 / 3600, 4)}]
    assert answer["assumes"] is None
    paced = job_forecast(_job(), {**WORKSPACE, "maxDialsPerSecond": 1}, _dials(30, 50), now=NOW)
    assert paced["finishAt"] == "2026-12-07T15:06:40.000Z"  # 1/s is above 3/40: no change
    slow = job_forecast(_job(), WORKSPACE, _dials(30, 50), now=NOW, global_dials_per_second=1)
    assert slow["dialsPerSecondLimit"] == 1.0


def test_before_any_dial_ended_the_default_is_stated() -> None:
    """No ended dial: 60 s a call, said so; a paused job is forecast as resumed now."""
    answer = job_forecast(_job(status="PAUSED"), WORKSPACE, _dials(), now=NOW)
    assert (answer["meanCallSeconds"], answer["meanCallSecondsSource"]) == (60, "default")
    assert answer["assumes"] == "the job is resumed now"
    assert answer["finishAt"] == "2026-12-07T15:10:00.000Z"  # 30 x 60 / 3 = 600 s


def test_the_route_answers_for_the_workspace_s_job(
    api: TestClient, make_workspace: Callable[..., dict[str, Any]]
) -> None:
    """The route answers the forecast of an INIT job and 404 for another workspace; a
    cancelled job's forecast says it is over."""
    ws = make_workspace(dial_limit=4, per_number_limit=2)
    body = job_body(ws, rows=3, cap=4, schedule=None)
    job = api.post(JOBS, json=body, headers=h(ws)).json()
    answer = api.get(f"{JOBS}/{job['id']}/forecast", headers=h(ws))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["assumes"] == "the job is started now"
    assert got["concurrency"] == 2  # one pool number of limit 2
    assert got["rowsLeft"] == 3
    assert got["meanCallSecondsSource"] == "default"
    assert got["finishAt"].endswith("Z")
    other = make_workspace()
    assert api.get(f"{JOBS}/{job['id']}/forecast", headers=h(other)).status_code == 404
    api.post(f"{JOBS}/{job['id']}/cancel", headers=h(ws))
    over = api.get(f"{JOBS}/{job['id']}/forecast", headers=h(ws)).json()
    assert (over["reason"], over["rowsLeft"], over["days"]) == ("cancelled", 0, [])
