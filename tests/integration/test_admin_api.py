"""Issue 19: the operator API under BATCHDIAL_ADMIN_KEY — create, list, change the dial
limit, disable (keys refused, nothing dialed) and enable a workspace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from producer.admin import AdminWorkspaces
from producer.http.app import create_app
from tests.support.engine import CountingDialer, Rig
from tests.support.waits import wait_for

ADMIN = "/api/admin/workspaces"
OPERATOR = {"Authorization": "Bearer operator-secret"}


@pytest.fixture
def admin_api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    with TestClient(create_app(real_redis, namespace, admin_key="operator-secret")) as client:
        yield client


def test_operator_creates_lists_limits_disables_and_enables(admin_api: TestClient) -> None:
    api = admin_api
    made = api.post(
        ADMIN,
        json={"name": "acme", "dialLimit": 5, "numbers": ["+12125550100"], "perNumberLimit": 2},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    ws = made.json()
    assert ws["apiKey"].startswith("bd_") and ws["phoneNumbers"][0]["maxConcurrentDials"] == 2
    key = {"api_key": ws["apiKey"]}
    assert api.get("/api/workspace", headers=key).json()["dialLimit"] == 5
    listed = api.get(ADMIN, headers=OPERATOR).json()["data"]
    assert {"id": ws["workspaceId"], "disabled": False, "dialLimit": 5}.items() <= next(
        w for w in listed if w["id"] == ws["workspaceId"]
    ).items()
    url = f"{ADMIN}/{ws['workspaceId']}"
    changed = api.patch(url, json={"dialLimit": 9}, headers=OPERATOR).json()
    assert changed["dialLimit"] == 9
    assert api.get("/api/workspace", headers=key).json()["dialLimit"] == 9
    assert api.patch(url, json={"disabled": True}, headers=OPERATOR).json()["disabled"] is True
    refused = api.get("/api/workspace", headers=key)
    assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]
    assert api.patch(url, json={"disabled": False}, headers=OPERATOR).status_code == 200
    assert api.get("/api/workspace", headers=key).status_code == 200
    assert (
        api.patch(f"{ADMIN}/ws_nothere", json={"dialLimit": 1}, headers=OPERATOR).status_code == 404
    )
    bad = api.post(ADMIN, json={"name": "", "dialLimit": 0}, headers=OPERATOR)
    assert {d["path"] for d in bad.json()["error"]["details"]} == {"name", "dialLimit"}


def test_without_the_setting_the_operator_api_is_off(api: TestClient) -> None:
    answer = api.get(ADMIN, headers=OPERATOR)
    assert answer.status_code == 401 and "BATCHDIAL_ADMIN_KEY" in answer.json()["error"]["message"]


def test_a_disabled_workspace_dials_nothing_until_enabled(rig: Rig) -> None:
    ws = rig.workspace()
    wid = ws["workspaceId"]
    admin = AdminWorkspaces(rig.client, rig.producer.keys, rig.producer.workspaces)
    admin.update(wid, {"disabled": True})
    dialer = CountingDialer(call_seconds=0)
    rig.worker(dialer)
    job_id = rig.job(ws, 3, 2)
    rig.start(ws, job_id)
    wait_for(lambda: rig.producer.queue(wid, job_id).data[0]["waitingFor"] == "capacity", 5, "q")
    assert dialer.requests == []
    admin.update(wid, {"disabled": False})
    rig.wait_status(ws, job_id, "COMPLETE", timeout=20)
    assert len(dialer.requests) == 3
