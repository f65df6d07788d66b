"""``batchdial jobs …`` as a person (or a script) runs it: subprocesses against a real
``batchdial api`` and a real worker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis

from batchdial import jobs_cli
from batchdial.cli import main
from batchdial.client import Retries
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
    got = _jobs("get", job["id"], env=client_env)
    assert got.returncode == 0, got.stderr
    assert "daily 00:00-24:00 America/New_York" in got.stdout


class _Cli:
    """``batchdial jobs …`` run in this process (``batchdial.cli.main``) against a real API:
    the subprocess test above shows the command itself; these check what each command
    answers without paying an interpreter's start each time."""

    def __init__(self, capsys: pytest.CaptureFixture[str], base: str, key: str) -> None:
        self.capsys, self.base, self.key = capsys, base, key

    def __call__(self, *args: str, key: str | None = None) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(
            ["jobs", args[0], "--api-url", self.base, "--api-key", key or self.key, *args[1:]]
        )
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.mark.usefixtures("real_redis")
def test_steering_errors_and_exit_codes(
    namespace: str,
    start_stack: StackFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """get shows the forecast; start/pause/resume/cancel print the state; watch of a
    cancelled job exits 3; a refused command exits 1 with the API's message (and JSON
    with --json); a bad number is named with its CSV line (1); a bad schedule text, a CSV
    without toNumber and a missing key exit 2; an API that is not there exits 4."""
    env = env_for(namespace, REDIS_URL)
    stack = start_stack(env, workers=0)
    jobs = _Cli(capsys, stack.base, stack.ws["apiKey"])
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    pool = stack.ws["phoneNumbers"][0]["id"]
    common = ("--agent", "a", "--cap", "1", "--pool", pool, "--name", "steer")
    code, out, err = jobs(
        "create", "--csv", str(leads), *common, "--schedule", "Mon-Fri 09:00-17:00 America/New_York"
    )
    assert code == 0, err
    job_id = out.strip()
    assert job_id.startswith("job_")
    code, out, err = jobs("get", job_id)
    assert code == 0, err
    # 4 rows at 1 call at once of 60 s (the default): 4 min of dialing in business hours.
    assert "finish ~" in out
    assert "0.1 h; calls 60 s, default) if the job is started now" in out
    assert "schedule: Mon-Fri 09:00-17:00 America/New_York" in out
    for command, state in (
        ("start", "ACTIVE"),
        ("pause", "PAUSED"),
        ("resume", "ACTIVE"),
        ("cancel", "CANCELLED"),
    ):
        assert jobs(command, job_id)[:2] == (0, f"{job_id} {state}\n")
    code, out, _ = jobs("watch", job_id)
    assert code == 3
    assert out.startswith("CANCELLED")
    code, _, err = jobs("start", job_id)
    assert code == 1
    assert "409 conflict" in err
    code, out, _ = jobs("start", job_id, "--json")
    assert json.loads(out)["error"]["status"] == 409

    bad = tmp_path / "bad.csv"
    bad.write_text("toNumber,name\n+12125550123,A\n+1234567890,B\n")
    code, _, err = jobs("create", "--csv", str(bad), *common)
    assert code == 1
    assert f"rows[1].toNumber ({bad} line 3): " in err
    assert "too short" in err
    code, _, err = jobs(
        "create", "--csv", str(bad), *common, "--schedule", "Funday 09:00-10:00 UTC"
    )
    assert code == 2
    assert "'Funday' is not a day" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("toNumber,name\n")
    code, _, err = jobs("create", "--csv", str(empty), *common)
    assert code == 2
    assert "has no rows: nothing to dial" in err
    nocolumn = tmp_path / "nocolumn.csv"
    nocolumn.write_text("phone,name\n+12125550123,A\n")
    code, _, err = jobs("create", "--csv", str(nocolumn), *common)
    assert code == 2
    assert "no toNumber column" in err
    # Nothing was stored by the refused creates.
    assert [j["id"] for j in json.loads(jobs("list", "--json")[1])] == [job_id]
    assert json.loads(jobs("get", job_id, "--json")[1])["status"] == "CANCELLED"

    monkeypatch.delenv("BATCHDIAL_API_KEY", raising=False)
    assert main(["jobs", "list", "--api-url", stack.base]) == 2
    assert "BATCHDIAL_API_KEY" in capsys.readouterr().err
    monkeypatch.setattr(jobs_cli, "CLI_RETRIES", Retries(attempts=2, backoff_s=0.0))
    nowhere = _Cli(capsys, f"http://127.0.0.1:{free_port()}", stack.ws["apiKey"])
    code, _, err = nowhere("list")
    assert code == 4
    assert "unreachable" in err
