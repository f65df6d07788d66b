"""``batchdial jobs …`` as a person (or a script) runs it: subprocesses against a real
``batchdial api`` and a real worker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis

from tests.support.procs import NUMBERS, batchdial, env_for, free_port
from tests.support.redis_server import REDIS_URL
from tests.support.stack import StackFactory

pytestmark = pytest.mark.e2e

LEADS = """toNumber,customer_name,account_id
+12125550123,John Doe,ACC123
+12125550124,Jane Roe,ACC124
+12125550125,Max Mustermann,ACC125
+12125550126,Erika Musterfrau,ACC126
"""


def _jobs(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return batchdial("jobs", *args, env=env, timeout=timeout)


def test_create_from_a_csv_watch_to_the_end_list_and_get(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory, tmp_path: Path
) -> None:
    """create --csv … --schedule TEXT --start, then watch exits 0 at COMPLETE; list shows a
    table with the job and list/get --json give the job objects."""
    env = env_for(namespace, REDIS_URL, BATCHDIAL_SIMULATED_CALL_SECONDS="0.05")
    stack = start_stack(env, threads=4)
    client_env = {**env, "BATCHDIAL_API_URL": stack.base, "BATCHDIAL_API_KEY": stack.ws["apiKey"]}
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    created = _jobs(
        "create",
        "--csv",
        str(leads),
        "--agent",
        "agent-1",
        "--cap",
        "2",
        "--pool",
        NUMBERS[0],  # an E.164 number of the workspace: the CLI finds its id
        "--pool",
        stack.ws["phoneNumbers"][1]["id"],
        "--schedule",
        "daily 00:00-24:00",
        "--timezone",
        "America/New_York",
        "--start",
        "--json",
        env=client_env,
    )
    assert created.returncode == 0, created.stderr
    job = json.loads(created.stdout)
    assert job["name"] == "leads"
    assert job["callAgentId"] == "agent-1"
    assert job["maxConcurrentDials"] == 2
    assert job["fromPhoneNumberIds"] == [p["id"] for p in stack.ws["phoneNumbers"][:2]]
    assert job["schedule"]["timezone"] == "America/New_York"
    assert [d["dayOfWeek"] for d in job["schedule"]["days"]] == list(range(7))
    assert job["counts"]["rows"] == 4
    assert job["status"] == "ACTIVE"

    watched = _jobs("watch", job["id"], "--interval", "0.2", env=client_env)
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.strip().splitlines()
    assert lines[-1].startswith("COMPLETE")
    assert "finished 4/4" in lines[-1]

    listed = _jobs("list", env=client_env)
    assert listed.returncode == 0, listed.stderr
    assert "STATUS" in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if job["id"] in line)
    assert "COMPLETE" in row
    assert "4/4" in row
    as_json = json.loads(_jobs("list", "--json", env=client_env).stdout)
    assert [j["id"] for j in as_json] == [job["id"]]

    got = _jobs("get", job["id"], env=client_env)
    assert got.returncode == 0, got.stderr
    assert "daily 00:00-24:00 America/New_York" in got.stdout
    assert json.loads(_jobs("get", job["id"], "--json", env=client_env).stdout)["status"] == (
        "COMPLETE"
    )


def test_steering_commands_and_watch_of_a_cancelled_job(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory, tmp_path: Path
) -> None:
    """start/pause/resume/cancel print the state; watch of a cancelled job exits 3; a
    command on a finished job exits 1 with the API's message."""
    env = env_for(namespace, REDIS_URL)
    stack = start_stack(env, workers=0)
    client_env = {**env, "BATCHDIAL_API_URL": stack.base, "BATCHDIAL_API_KEY": stack.ws["apiKey"]}
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    pool = stack.ws["phoneNumbers"][0]["id"]
    common = ("--agent", "a", "--cap", "1", "--pool", pool, "--name", "steer")
    job_id = _jobs(
        "create",
        "--csv",
        str(leads),
        *common,
        "--schedule",
        "Mon-Fri 09:00-17:00 America/New_York",
        env=client_env,
    ).stdout.strip()
    assert job_id.startswith("job_")
    got = _jobs("get", job_id, env=client_env)
    assert got.returncode == 0, got.stderr
    # 4 rows at 1 call at once of 60 s (the default): 4 min of dialing in business hours.
    assert "finish ~" in got.stdout
    assert "0.1 h; calls 60 s, default) if the job is started now" in got.stdout
    assert "schedule: Mon-Fri 09:00-17:00 America/New_York" in got.stdout
    for command, state in (
        ("start", "ACTIVE"),
        ("pause", "PAUSED"),
        ("resume", "ACTIVE"),
        ("cancel", "CANCELLED"),
    ):
        done = _jobs(command, job_id, env=client_env)
        assert (done.returncode, done.stdout) == (0, f"{job_id} {state}\n"), done.stderr
    watched = _jobs("watch", job_id, env=client_env)
    assert watched.returncode == 3, watched.stderr
    assert watched.stdout.startswith("CANCELLED")
    refused = _jobs("start", job_id, env=client_env)
    assert refused.returncode == 1
    assert "409 conflict" in refused.stderr
    as_json = _jobs("start", job_id, "--json", env=client_env)
    assert json.loads(as_json.stdout)["error"]["status"] == 409


def test_input_errors_name_the_flag_or_the_csv_line(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory, tmp_path: Path
) -> None:
    """A bad number is refused (exit 1) with its CSV line; a bad schedule text, a CSV with
    no toNumber column and a missing API key exit 2; an API that is not there exits 4."""
    env = env_for(namespace, REDIS_URL)
    stack = start_stack(env, workers=0)
    client_env = {**env, "BATCHDIAL_API_URL": stack.base, "BATCHDIAL_API_KEY": stack.ws["apiKey"]}
    pool = stack.ws["phoneNumbers"][0]["id"]
    common = ("--agent", "a", "--cap", "1", "--pool", pool)
    bad = tmp_path / "bad.csv"
    bad.write_text("toNumber,name\n+12125550123,A\n+1234567890,B\n")
    done = _jobs("create", "--csv", str(bad), *common, env=client_env)
    assert done.returncode == 1
    assert f"rows[1].toNumber ({bad} line 3): " in done.stderr
    assert "too short" in done.stderr

    done = _jobs(
        "create", "--csv", str(bad), *common, "--schedule", "Funday 09:00-10:00 UTC", env=client_env
    )
    assert done.returncode == 2
    assert "'Funday' is not a day" in done.stderr

    nocolumn = tmp_path / "nocolumn.csv"
    nocolumn.write_text("phone,name\n+12125550123,A\n")
    done = _jobs("create", "--csv", str(nocolumn), *common, env=client_env)
    assert done.returncode == 2
    assert "no toNumber column" in done.stderr

    no_key = {k: v for k, v in client_env.items() if k != "BATCHDIAL_API_KEY"}
    done = _jobs("list", env=no_key)
    assert done.returncode == 2
    assert "BATCHDIAL_API_KEY" in done.stderr

    nowhere = {**client_env, "BATCHDIAL_API_URL": f"http://127.0.0.1:{free_port()}"}
    done = _jobs("list", env=nowhere)
    assert done.returncode == 4
    assert "unreachable" in done.stderr
    # Nothing was stored by the refused creates.
    assert json.loads(_jobs("list", "--json", env=client_env).stdout) == []
