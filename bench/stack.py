"""A real ``batchdial api`` and ``batchdial worker`` processes on a scratch namespace,
and a workspace and its jobs driven over HTTP, for the benchmarks that look at the
system from the outside (the provider's side, pacing).

Every process started here is stopped (TERM, then KILL) when its block ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx

from bench.common import THREADS, BenchError
from bench.scratch import Scratch, distinct_numbers


def env_of(s: Scratch, **extra: str) -> dict[str, str]:
    """The environment of a batchdial process on the scratch namespace (warnings only,
    metrics off)."""
    from tests.support.procs import env_for  # noqa: PLC0415 -- the process helpers

    return env_for(s.namespace, s.url, BATCHDIAL_LOG_LEVEL="WARNING", **extra)


@contextmanager
def api(env: dict[str, str], log: Path) -> Iterator[str]:
    """A real ``batchdial api`` on a free port; yields its base URL once it answers."""
    from tests.support.procs import api_server  # noqa: PLC0415

    with api_server(env, log) as base:
        yield base


@contextmanager
def workers(s: Scratch, env: dict[str, str], log: Path, processes: int) -> Iterator[None]:
    """``batchdial worker --processes P --threads 8``; yields once every process has
    registered its heartbeat (and so takes part in the fair share)."""
    from tests.support.procs import running  # noqa: PLC0415
    from tests.support.waits import wait_for  # noqa: PLC0415

    args = ("worker", "--processes", str(processes), "--threads", str(THREADS))
    before = set(cast(list[str], s.client.zrange(s.keys.workers, 0, -1)))
    with running(*args, env=env, log=log) as proc:

        def ready() -> bool:
            if proc.poll() is not None:
                raise BenchError(f"batchdial worker exited: {log.read_text()[-1500:]}")
            members = set(cast(list[str], s.client.zrange(s.keys.workers, 0, -1)))
            return len(members - before) >= processes

        wait_for(ready, 60, f"{processes} worker process(es) to say they are alive")
        yield


class Workspace:
    """A workspace made with ``batchdial workspace create`` and an HTTP client with its
    key on the running API."""

    def __init__(self, env: dict[str, str], base: str, limit: int) -> None:
        from tests.support.procs import workspace  # noqa: PLC0415

        self.ws = workspace(env, dial_limit=limit, per_number=limit)
        self.http = httpx.Client(base_url=base, headers={"api_key": self.ws["apiKey"]}, timeout=30)

    def close(self) -> None:
        """Close the client."""
        self.http.close()

    def patch(self, **fields: Any) -> dict[str, Any]:
        """``PATCH /api/workspace``; the answer."""
        answer = self.http.patch("/api/workspace", json=fields)
        if answer.status_code != 200:
            raise BenchError(f"PATCH /api/workspace: {answer.status_code} {answer.text[:300]}")
        return dict(answer.json())

    def start_job(self, rows: int, cap: int) -> str:
        """Create a job of ``rows`` distinct numbers dialing from the whole pool at any
        time, and start it; its id."""
        body = {
            "name": "bench",
            "callAgentId": "bench-agent",
            "maxConcurrentDials": cap,
            "fromPhoneNumberIds": [p["id"] for p in self.ws["phoneNumbers"]],
            "rows": [{"toNumber": n} for n in distinct_numbers(rows)],
        }
        answer = self.http.post(
            "/api/batch_dial_jobs",
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        if answer.status_code != 201:
            raise BenchError(f"create: {answer.status_code} {answer.text[:300]}")
        job_id = str(answer.json()["id"])
        started = self.http.post(f"/api/batch_dial_jobs/{job_id}/paused", json={"paused": False})
        if started.status_code != 200:
            raise BenchError(f"start: {started.status_code} {started.text[:300]}")
        return job_id

    def status(self, job_id: str) -> str:
        """The job's status."""
        return str(self.http.get(f"/api/batch_dial_jobs/{job_id}").json()["status"])

    def cancel(self, job_id: str) -> None:
        """Cancel the job unless it is finished."""
        if self.status(job_id) not in ("COMPLETE", "CANCELLED"):
            self.http.post(f"/api/batch_dial_jobs/{job_id}/cancel")
