"""The commands as a newcomer runs them: workspace create, then curl-like calls to a real
``batchdial api`` process on a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.bodies import sample_job
from tests.support.procs import api_server, batchdial, env_for
from tests.support.redis_server import REDIS_URL

pytestmark = pytest.mark.e2e


def test_workspace_create_prints_one_json_object(real_redis: redis.Redis, namespace: str) -> None:
    """`batchdial workspace create` prints the workspace, its key and its numbers."""
    env = env_for(namespace, REDIS_URL)
    done = batchdial(
        "workspace",
        "create",
        "--name",
        "Acme",
        "--dial-limit",
        "5",
        "--number",
        "+12125550100",
        "--number",
        "+14155550100",
        "--per-number-limit",
        "2",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert set(created) == {"workspaceId", "apiKey", "dialLimit", "phoneNumbers"}
    assert created["dialLimit"] == 5
    assert [(p["number"], p["maxConcurrentDials"]) for p in created["phoneNumbers"]] == [
        ("+12125550100", 2),
        ("+14155550100", 2),
    ]
    assert all(set(p) == {"id", "number", "maxConcurrentDials"} for p in created["phoneNumbers"])


def test_bad_input_and_bad_settings_are_named(namespace: str) -> None:
    """A bad flag value and a bad setting stop the command with a message naming them."""
    env = env_for(namespace, REDIS_URL)
    done = batchdial(
        "workspace",
        "create",
        "--name",
        "A",
        "--dial-limit",
        "5",
        "--number",
        "+1234567890",
        env=env,
    )
    assert done.returncode == 2
    assert "--number" in done.stderr
    assert "too short" in done.stderr
    done = batchdial(
        "workspace",
        "create",
        "--name",
        "A",
        "--dial-limit",
        "5",
        env={**env, "BATCHDIAL_METRICS_PORT": "http"},
    )
    assert done.returncode == 2
    assert "BATCHDIAL_METRICS_PORT" in done.stderr


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (("worker",), "BATCHDIAL_WORKER_THREADS", "abc"),
        (("worker",), "BATCHDIAL_WORKER_PROCESSES", "0"),
        (("api",), "BATCHDIAL_API_PORT", "http"),
        (("api",), "BATCHDIAL_LOG_LEVEL", "LOUD"),
        (("demo",), "BATCHDIAL_DEMO_SERVE", "maybe"),
    ],
)
def test_a_bad_command_setting_stops_with_its_name(
    namespace: str, command: tuple[str, ...], variable: str, value: str
) -> None:
    """A bad value behind a command's option stops it at start, naming the variable and what
    it accepts, without a traceback."""
    env = {**env_for(namespace, REDIS_URL), variable: value}
    done = batchdial(*command, env=env)
    assert done.returncode == 2, done.stderr
    assert f"{variable}:" in done.stderr
    assert repr(value) in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_flag_wins_over_its_variable(namespace: str) -> None:
    """`--threads` given on the command line is used instead of BATCHDIAL_WORKER_THREADS."""
    env = {**env_for(namespace, REDIS_URL), "BATCHDIAL_WORKER_THREADS": "8"}
    done = batchdial("worker", "--threads", "0", env=env)
    assert done.returncode == 2, done.stderr
    assert "--threads must be at least 1" in done.stderr


def test_a_newcomer_session_against_a_real_api(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """Create a workspace, then create, start, pause, update, cancel a job over HTTP and
    read its queue and events, all against `batchdial api` in its own process."""
    env = env_for(namespace, REDIS_URL)
    created = json.loads(
        batchdial(
            "workspace",
            "create",
            "--name",
            "Acme",
            "--dial-limit",
            "10",
            "--number",
            "+12125550100",
            env=env,
        ).stdout
    )
    headers = {"api_key": created["apiKey"]}
    with (
        api_server(env, tmp_path / "api.log") as base,
        httpx.Client(base_url=base, headers=headers, timeout=10) as http,
    ):
        body = sample_job([created["phoneNumbers"][0]["id"]])
        body["rows"] = [{"toNumber": "+1234567890", "inputs": {"customer_name": "John Doe"}}]
        refused = http.post("/api/batch_dial_jobs", json=body)
        assert refused.status_code == 422
        assert refused.json()["error"]["details"][0]["path"] == "rows[0].toNumber"
        body["rows"] = [
            {"toNumber": "+12125550123", "inputs": {"customer_name": "John Doe"}},
            {"toNumber": "+12125550124", "inputs": {"customer_name": "Jane Roe"}},
        ]
        job = http.post("/api/batch_dial_jobs", json=body).json()
        url = f"/api/batch_dial_jobs/{job['id']}"
        assert http.post(f"{url}/paused", json={"paused": False}).json()["status"] == "ACTIVE"
        assert http.put(url, json={"maxConcurrentDials": 2}).json()["pendingConfig"] is not None
        assert http.post(f"{url}/paused", json={"paused": True}).json()["maxConcurrentDials"] == 2
        queue = http.get(f"{url}/queue").json()["data"]
        assert [r["toNumber"] for r in queue] == ["+12125550123", "+12125550124"]
        assert http.post(f"{url}/cancel").json()["status"] == "CANCELLED"
        types = [e["type"] for e in http.get(f"{url}/events").json()["data"]]
        assert types == [
            "job.created",
            "job.started",
            "job.updated",
            "job.paused",
            "job.config_applied",
            "job.cancelled",
        ]
        assert http.get("/readyz").status_code == 200
        assert "batchdial_http_requests_total" in http.get("/metrics").text
