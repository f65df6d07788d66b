"""Operating batchdial: metrics across worker processes, JSON logs without secrets,
graceful SIGTERM, and workers added and removed while a job runs."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.http import read_all
from tests.support.procs import ROOT, env_for, free_port, running
from tests.support.redis_server import REDIS_URL, sem_members
from tests.support.stack import StackFactory
from tests.support.waits import wait_for

pytestmark = pytest.mark.e2e


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, from Prometheus text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def total(values: dict[str, float], name: str) -> float:
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


def exported_names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_metrics_count_each_dial_once_across_two_processes(
    real_redis: redis.Redis, namespace: str, start_stack: StackFactory
) -> None:
    """A worker of two processes serves one /metrics: dials are counted once over both
    processes, and the API's /metrics shows the same totals from Redis. Every metric
    deploy/metrics.txt names (for dashboards and alerts) is exported."""
    port = free_port()
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.05",
        BATCHDIAL_SIMULATED_OUTCOMES="completed=3,busy=1",
    )
    worker_env = {**env, "BATCHDIAL_METRICS_PORT": str(port)}
    with start_stack(env, workers=0, dial_limit=8, per_number=8) as stack:
        http = stack.http
        stack.add_worker("--processes", "2", "--threads", "4", env=worker_env, name="w")
        job = stack.create_job(rows=120, cap=8)
        stack.start(job)
        stack.wait_status(job, "COMPLETE", 60)
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        worker = samples(scrape)
        api = samples(http.get("/metrics").text)
        api_names = exported_names(http.get("/metrics").text)
    assert total(worker, "batchdial_dials_started_total") == 120
    assert total(worker, "batchdial_dials_finished_total") == 120
    assert worker["batchdial_call_duration_seconds_count"] == 120
    by_status = {
        s: worker.get(f'batchdial_dials_finished_total{{status="{s}"}}', 0)
        for s in ("completed", "busy")
    }
    recorded = {
        s: api.get(f'batchdial_recorded_dials_finished_total{{status="{s}"}}', 0)
        for s in ("completed", "busy")
    }
    assert by_status == recorded
    assert sum(recorded.values()) == 120
    assert api['batchdial_jobs{status="COMPLETE"}'] == 1
    assert api["batchdial_rows_queued"] == 0
    assert api["batchdial_dials_in_progress"] == 0
    assert worker['batchdial_jobs{status="COMPLETE"}'] == 1
    assert total(worker, "dramatiq_messages_total") > 0  # pump runs and first releases
    pids = {m.group(1) for m in re.finditer(r'pid="(\d+)"', scrape)}
    assert not pids, "per-process series must be summed, not listed by pid"
    expected = (
        set((ROOT / "deploy" / "metrics.txt").read_text().split())
        if (ROOT / "deploy" / "metrics.txt").exists()
        else set()
    )
    names = exported_names(scrape) | api_names
    missing = {n for n in expected if not {n, n + "_total"} & names and n not in names}
    assert not missing, f"deploy/metrics.txt names metrics nobody exports: {sorted(missing)}"


def test_logs_are_json_lines_with_ids_and_no_numbers_or_keys(
    real_redis: redis.Redis, namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """Every log line of a job run is JSON, state changes carry the ids, and no full
    phone number, API key or secret appears."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.05",
        BATCHDIAL_DIALER_SECRET="top-secret-value",
        BATCHDIAL_LOG_LEVEL="DEBUG",
    )
    with start_stack(env, workers=0, dial_limit=4, per_number=4) as stack:
        ws = stack.ws
        stack.add_worker(name="w")
        job = stack.create_job(rows=10, cap=4)
        stack.start(job)
        stack.wait_status(job, "COMPLETE", 30)
    lines: list[dict[str, Any]] = []
    for name in ("api.log", "w.log"):
        text = (tmp_path / name).read_text()
        assert ws["apiKey"] not in text
        assert "top-secret-value" not in text
        assert not re.search(r"\+\d{10,15}", text), "a full phone number was logged"
        for raw in text.splitlines():
            lines.append(json.loads(raw))
    started = [e for e in lines if e["event"] == "dial_started"]
    finished = [e for e in lines if e["event"] == "dial_finished"]
    assert len(started) == len(finished) == 10
    assert all(
        e["job_id"] == job["id"]
        and e["ws_id"] == ws["workspaceId"]
        and e["dial_id"]
        and e["row_id"]
        for e in started
    )
    assert all(e["from_number"].endswith(("0100",)) and "*" in e["from_number"] for e in started)
    changes = [e for e in lines if e["event"] == "job_status_changed"]
    assert changes and changes[0]["job_id"] == job["id"]


def test_sigterm_finishes_held_calls_and_workers_can_come_and_go(
    real_redis: redis.Redis, namespace: str, tmp_path: Path, start_stack: StackFactory
) -> None:
    """A worker added mid-job takes work; a worker sent SIGTERM mid-job stops taking
    work, ends the calls it holds normally (no lapsed lease), and exits; the job
    completes with every row dialed once and no slot held."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.5",
        BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
        BATCHDIAL_LEASE_SECONDS="3",
    )
    with start_stack(env, dial_limit=6, per_number=6) as stack:
        http, first = stack.http, stack.workers[0]
        job = stack.create_job(rows=80, cap=6)
        url = f"/api/batch_dial_jobs/{job['id']}"
        stack.start(job)
        stack.wait_finished(job, 10, 30)
        stack.add_worker()  # a second worker, mid-job
        stack.wait_finished(job, 30, 30)
        assert stack.job(job)["counts"]["inProgress"] > 0
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(timeout=40)
        assert first.returncode == 0
        stack.wait_status(job, "COMPLETE", 60)
        dials = read_all(http, f"{url}/dials")
        events = read_all(http, f"{url}/events")
    assert len({d["rowId"] for d in dials}) == len(dials) == 80
    assert {d["status"] for d in dials} == {"completed"}
    assert not [e for e in events if e.get("reason")], "a call ended by a lapsed lease"
    assert sem_members(real_redis, namespace) == 0
    log = (tmp_path / "w1.log").read_text()
    assert '"worker_stopping"' in log and '"workers_stopped"' in log


def test_a_worker_process_does_not_outlive_its_supervisor(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """SIGKILL of the supervisor alone: its worker process notices and stops by itself."""
    env = env_for(namespace, REDIS_URL)
    with running("worker", "--threads", "2", env=env, log=tmp_path / "w.log") as supervisor:
        children_file = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
        wait_for(lambda: bool(children_file.read_text().split()), 20, "the worker process")
        child = int(children_file.read_text().split()[0])
        wait_for(lambda: '"worker_started"' in (tmp_path / "w.log").read_text(), 20, "start")
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait(timeout=5)

        def gone() -> bool:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except FileNotFoundError:
                return True
            return "State:\tZ" in status

        wait_for(gone, 45, "the orphaned worker process to stop")
    assert '"supervisor_gone"' in (tmp_path / "w.log").read_text()
