"""Scratch namespaces on the shared Redis: workspaces, jobs and their event logs.

Every benchmark works in a namespace of its own (``bench-<random>``) and deletes only
that namespace's keys when it ends, also on failure.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, cast

import redis

from config.redis import make_redis
from domain.keys import Keys
from producer.service import Producer
from producer.validation import Limits

#: Caller-ID pool of every benchmark workspace.
POOL = ["+12125550100", "+13125550100", "+14155550100", "+16175550100"]
_AREA_CODES = (212, 213, 312, 415, 503, 617, 646, 702, 718, 917, 303, 404, 206, 305, 713)
_EXCHANGES = (555, 234, 345, 456, 567, 678, 789, 890)


def new_namespace() -> str:
    """A fresh namespace name: ``bench-<8 hex>``."""
    return f"bench-{secrets.token_hex(4)}"


def drop_namespace(client: redis.Redis, namespace: str) -> int:
    """Delete (UNLINK: freed off the main thread) every key of ``namespace``."""
    assert namespace.startswith("bench-"), namespace
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(match=Keys(namespace).every_key, count=2000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


@contextmanager
def scratch(url: str) -> Iterator[Scratch]:
    """A namespace of one's own and a producer on it; its keys are deleted at the end."""
    namespace = new_namespace()
    client = make_redis(url)
    try:
        yield Scratch(url, namespace, client)
    finally:
        try:
            drop_namespace(client, namespace)
        finally:
            client.close()


@dataclass(frozen=True)
class JobRef:
    """A job and its workspace."""

    ws: str
    job: str


class Scratch:
    """A scratch namespace: workspaces, jobs, their events."""

    def __init__(self, url: str, namespace: str, client: redis.Redis) -> None:
        self.url = url
        self.namespace = namespace
        self.client = client
        self.keys = Keys(namespace)
        self.producer = Producer(client, namespace, Limits(max_rows=1_000_000))

    def workspace(self, limit: int, pool: list[str] | None = None) -> tuple[str, list[str]]:
        """A workspace whose dial limit, and each pool number's limit, is ``limit``."""
        created = self.producer.workspaces.create("bench", limit, pool or POOL, limit)
        return created["workspaceId"], [p["id"] for p in created["phoneNumbers"]]

    def create_job(
        self,
        rows: int,
        cap: int,
        *,
        ws: tuple[str, list[str]] | None = None,
        schedule: dict[str, Any] | None = None,
        inputs: bool = False,
    ) -> JobRef:
        """A job of ``rows`` distinct valid numbers (state INIT), through the producer API."""
        ws_id, pool = ws or self.workspace(cap)
        numbers = distinct_numbers(rows)
        body: dict[str, Any] = {
            "name": "bench",
            "callAgentId": "bench-agent",
            "maxConcurrentDials": cap,
            "fromPhoneNumberIds": pool,
            "rows": [
                {"toNumber": n, "inputs": {"customer_name": f"Customer {i}", "account_id": f"A{i}"}}
                if inputs
                else {"toNumber": n}
                for i, n in enumerate(numbers)
            ],
        }
        if schedule is not None:
            body["schedule"] = schedule
        payload = json.dumps(body).encode()
        del body, numbers
        return JobRef(ws_id, self.producer.create_job(ws_id, payload)["id"])

    def start(self, ref: JobRef) -> None:
        """Start (or resume) a job."""
        self.producer.set_paused(ref.ws, ref.job, False)

    def status(self, ref: JobRef) -> str:
        """The job's status."""
        return str(self.producer.get_job(ref.ws, ref.job)["status"])

    def wait_status(self, ref: JobRef, statuses: set[str], timeout_s: float) -> bool:
        """Wait until the job's status is one of ``statuses``; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.status(ref) in statuses:
                return True
            time.sleep(0.05)
        return False

    def stop_job(self, ref: JobRef, settle_s: float = 0.0) -> None:
        """Cancel the job unless it is finished; then let calls in progress end."""
        with suppress(Exception):
            if self.status(ref) not in ("COMPLETE", "CANCELLED"):
                self.producer.cancel_job(ref.ws, ref.job)
        if settle_s:
            time.sleep(settle_s)

    def events(self, ref: JobRef) -> list[tuple[int, str, dict[str, Any]]]:
        """The job's event log in order: (Redis ms, type, event)."""
        key = self.keys.events(ref.ws, ref.job)
        out: list[tuple[int, str, dict[str, Any]]] = []
        start = "-"
        while True:
            entries = cast(
                list[tuple[str, dict[str, str]]], self.client.xrange(key, start, "+", count=10_000)
            )
            for entry_id, fields in entries:
                body = json.loads(fields["e"])
                out.append((int(entry_id.split("-", 1)[0]), body["type"], body))
            if len(entries) < 10_000:
                return out
            start = "(" + entries[-1][0]

    def job_key_bytes(self, ref: JobRef) -> dict[str, int]:
        """MEMORY USAGE (exact: SAMPLES 0) of each of the job's own keys that exists."""
        out = {}
        for key in self.keys.job_keys(ref.ws, ref.job):
            used = self.client.memory_usage(key, samples=0)
            if used:
                out[key.rsplit(":", 1)[-1] if key.count(":") > 3 else "job"] = int(used)
        return out


def distinct_numbers(n: int) -> list[str]:
    """``n`` distinct, valid NANP numbers (at most 1.2 M)."""
    out: list[str] = []
    for ac in _AREA_CODES:
        for ex in _EXCHANGES:
            out += [f"+1{ac}{ex}{i:04d}" for i in range(10_000)]
            if len(out) >= n:
                return out[:n]
    raise ValueError(f"at most {len(out)} numbers")
