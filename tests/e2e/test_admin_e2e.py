"""Issue 19 end to end: the operator API under BATCHDIAL_ADMIN_KEY on a real `batchdial
api` process, and the CLI's workspace actions on the same Redis, each seeing what the
other did (create, list, change the dial limit, disable, enable)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.bodies import job_body
from tests.support.procs import api_process, batchdial, env_for
from tests.support.redis_server import REDIS_URL

pytestmark = pytest.mark.e2e

ADMIN = "/api/admin/workspaces"
SECRET = "operator-e2e-secret"


def test_operator_api_and_cli_run_one_workspace_together(
    real_redis: object, namespace: str, tmp_path: Path
) -> None:
    """The operator makes a workspace by HTTP; its key creates a job; the CLI lowers its
    dial limit, which the API then applies to a job's cap; the operator disables it (its
    key refused at once, the CLI lists it disabled); the CLI enables it again. Without
    the operator's key, or with another, the operator API answers 401."""
    env = env_for(namespace, REDIS_URL, BATCHDIAL_ADMIN_KEY=SECRET, BATCHDIAL_LOG_LEVEL="WARNING")
    operator = {"Authorization": f"Bearer {SECRET}"}
    with api_process(env, tmp_path / "api.log") as api, httpx.Client(base_url=api.base) as http:
        assert http.get(ADMIN).status_code == 401
        assert http.get(ADMIN, headers={"Authorization": "Bearer guess"}).status_code == 401
        made = http.post(
            ADMIN,
            json={"name": "acme", "dialLimit": 5, "numbers": ["+12125550100"]},
            headers=operator,
        )
        assert made.status_code == 201, made.text
        ws = made.json()
        ws_id, key = ws["workspaceId"], {"api_key": ws["apiKey"]}
        job = http.post("/api/batch_dial_jobs", json=job_body(ws, rows=2, cap=5), headers=key)
        assert job.status_code == 201, job.text

        lowered = batchdial("workspace", "set-limit", ws_id, "--dial-limit", "3", env=env)
        assert lowered.returncode == 0, lowered.stderr
        assert json.loads(lowered.stdout)["dialLimit"] == 3
        assert http.get("/api/workspace", headers=key).json()["dialLimit"] == 3
        too_high = http.post("/api/batch_dial_jobs", json=job_body(ws, rows=1, cap=4), headers=key)
        assert too_high.status_code == 422, too_high.text
        paths = {d["path"] for d in too_high.json()["error"]["details"]}
        assert "maxConcurrentDials" in paths

        off = http.patch(f"{ADMIN}/{ws_id}", json={"disabled": True}, headers=operator)
        assert off.status_code == 200 and off.json()["disabled"] is True
        refused = http.get("/api/workspace", headers=key)
        assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]
        listed = batchdial("workspace", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        mine = [w for w in json.loads(listed.stdout)["data"] if w["id"] == ws_id]
        assert [(w["disabled"], w["dialLimit"]) for w in mine] == [(True, 3)]

        on = batchdial("workspace", "enable", ws_id, env=env)
        assert on.returncode == 0, on.stderr
        assert http.get("/api/workspace", headers=key).status_code == 200
        page = http.get(ADMIN, headers=operator).json()["data"]
        assert [w["disabled"] for w in page if w["id"] == ws_id] == [False]
        missing = batchdial("workspace", "disable", "ws_nothere", env=env)
        assert missing.returncode == 2 and "ws_nothere" in missing.stderr
