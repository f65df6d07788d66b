"""``batchdial demo`` as a newcomer sees it: progress, then a summary; the log in a file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchdial.demo import run_demo
from tests.support.procs import batchdial, env_for

pytestmark = pytest.mark.e2e


def test_the_demo_off_a_terminal_prints_plain_progress_and_a_summary(
    namespace: str, tmp_path: Path
) -> None:
    """Piped, the demo writes plain progress lines and the summary table, names its log
    file, and puts no log line among its output (issue 18: 602 log lines against 20)."""
    log = tmp_path / "demo.log"
    env = env_for(namespace, "redis://127.0.0.1:1/0")  # the demo needs no Redis server
    done = batchdial(
        "demo",
        "--rows",
        "30",
        "--cap",
        "4",
        "--call-seconds",
        "0.05",
        "--log-file",
        str(log),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert f"log: {log}" in out
    progress = [line for line in out.splitlines() if line.startswith(("ACTIVE", "COMPLETE"))]
    assert progress[-1].startswith("COMPLETE finished 30/30")
    assert "in progress 0/4" in progress[-1]
    assert "now per number: +12125550100 0" in progress[-1]
    assert "Demo survey: COMPLETE" in out
    assert "peak calls" in out
    assert "from +13125550100" in out
    assert not any(line.lstrip().startswith("{") for line in out.splitlines())
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert "job_created" in {entry["event"] for entry in logged}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_demo_on_a_terminal_shows_live_bars_and_per_number_use() -> None:
    """On a terminal the demo draws bars of finished rows, calls against the cap and each
    pool number's calls against its limit, then the summary."""
    out = _Terminal()
    assert run_demo(rows=20, cap=3, call_seconds=0.05, out=out) == 0
    text = out.getvalue()
    assert "━" in text  # rich's bars
    assert "(the job's cap)" in text
    assert "now, " in text  # "1/2 now, 7 dials" per number
    assert "20/20" in text
    assert "Demo survey: COMPLETE" in text
