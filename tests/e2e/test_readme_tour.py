"""The README as a newcomer follows it: its two commands, and its five-minute tour run as
one shell script (API, worker, workspace, a job from a CSV, watch, list, export)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from tests.support.markdown import code_blocks
from tests.support.procs import ROOT, env_for, free_port
from tests.support.redis_server import REDIS_URL

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"


def test_the_two_commands_are_two_lines() -> None:
    """'The two commands' shows exactly two commands: the demo and the test suite."""
    (block,) = code_blocks(README, "sh", section="The two commands")
    lines = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert lines == ["scripts/demo", "scripts/test"]
    assert (ROOT / "scripts" / "demo").exists()
    assert (ROOT / "scripts" / "test").exists()


def _tour_script(blocks: list[str]) -> str:
    """The tour's commands as one bash script, with the substitutions a shared test
    machine needs: the suite's .venv instead of a fresh bootstrap, the suite's Redis
    (already running) instead of starting one, and the processes the tour puts in the
    background stopped when it ends."""
    lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT"]
    for block in blocks:
        for line in block.splitlines():
            skipped = line.startswith("redis-server")
            if line.startswith("scripts/bootstrap.sh"):
                lines.append(f". {ROOT}/.venv/bin/activate")
            elif not skipped:
                lines.append(line)
    return "\n".join(lines) + "\n"


def test_the_five_minute_tour_runs_as_written(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """The tour's commands, run in order in a fresh directory, create a job from the CSV,
    watch it to COMPLETE (exit 0), list it, and export one result line per row."""
    blocks = code_blocks(README, "sh", section="A five-minute tour")
    assert len(blocks) == 2
    port = free_port()
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_API_PORT=str(port),
        BATCHDIAL_API_URL=f"http://127.0.0.1:{port}",
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.2",
    )
    env.pop("VIRTUAL_ENV", None)
    script = tmp_path / "tour.sh"
    script.write_text(_tour_script(blocks))
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, f"{out}\n{err}"
    lines = out.splitlines()
    assert any(line.startswith("COMPLETE") and "finished 4/4" in line for line in lines), out
    table = next(line for line in lines if line.startswith("job_"))
    assert "leads" in table
    assert "COMPLETE" in table
    assert (tmp_path / "workspace.json").exists()
    results = (tmp_path / "results.csv").read_text().splitlines()
    assert len(results) == 5  # the header and one line per row
