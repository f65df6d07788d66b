"""What ``BATCHDIAL_REDIS_MIN_REPLICAS`` costs per dial, and the Redis cost of a dial
(the figures of docs/failover.md, "How far one primary goes").

A ``redis-server`` primary and one replica of this benchmark's own on loopback (free
ports, stopped by PID at the end; the shared Redis is not used). One engine in this
process dials jobs of zero-length calls one dial at a time (cap 1: each dial's claim,
call and end, then the next), with ``min_replicas`` 0 and then 1, alternating, in the
same run: the difference per dial is what the two ``WAIT`` (after the claim, after the
end) add on a healthy replica. The primary's CPU (``INFO cpu``), its commands and the
events appended are read per dial too.

    .venv/bin/python -m bench.failover [--rows 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from config.logging import configure_logging
from config.redis import make_redis
from domain.keys import Keys
from producer.service import Producer
from producer.validation import Limits
from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.engine.core import Engine
from worker.engine.timing import Timing

NS = "benchfailover"
NUMBER = "+12125550100"


class _Instant:
    """A dialer whose calls end at once, completed."""

    def __init__(self) -> None:
        self.calls = 0

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        self.calls += 1
        return Placed(status="completed")

    def close(self) -> None:
        pass


class _Outbox:
    def __init__(self) -> None:
        self.dials: list[tuple[str, str, int]] = []

    def send_pump(self, ws_id: str, job_id: str) -> None:
        pass

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        self.dials.append((ws_id, job_id, index))

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        self.dials.extend((ws_id, job_id, index) for index in indexes)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    argv += ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", *extra]
    with (directory / "log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"redis-server on {port} did not start") from None
            time.sleep(0.05)  # polling its start
    client.close()
    return proc


def _cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _commands(client: redis.Redis) -> int:
    info: dict[str, Any] = client.info("stats")
    return int(info["total_commands_processed"])


def one_run(client: redis.Redis, rows: int, min_replicas: int) -> dict[str, float]:
    """Dial a job of ``rows`` zero-length calls at cap 1; the figures per dial."""
    producer = Producer(client, NS, Limits(max_rows=rows))
    ws = producer.workspaces.create("bench", 1, [NUMBER], None)
    body = {
        "name": "bench",
        "callAgentId": "agent-1",
        "maxConcurrentDials": 1,
        "fromPhoneNumberIds": [n["id"] for n in ws["phoneNumbers"]],
        "schedule": None,
        "rows": [{"toNumber": f"+1212555{i:04d}"} for i in range(rows)],
    }
    job = producer.create_job(ws["workspaceId"], body)
    ws_id, job_id = ws["workspaceId"], str(job["id"])
    producer.set_paused(ws_id, job_id, False)
    dialer, outbox = _Instant(), _Outbox()
    engine = Engine(
        client, Keys(NS), dialer, outbox, Timing(lease_ms=30_000, min_replicas=min_replicas)
    )
    cpu0, commands0, t0 = _cpu(client), _commands(client), time.perf_counter()
    while dialer.calls < rows:
        engine.pump(ws_id, job_id)
        while outbox.dials:
            _, _, index = outbox.dials.pop()
            engine.dial(ws_id, job_id, index)
    wall = time.perf_counter() - t0
    cpu, commands = _cpu(client) - cpu0, _commands(client) - commands0
    events = int(client.xlen(Keys(NS).events(ws_id, job_id)))
    engine.close()
    return {
        "ms_per_dial": wall * 1000 / rows,
        "redis_cpu_us_per_dial": cpu * 1e6 / rows,
        "commands_per_dial": commands / rows,
        "events_per_dial": events / rows,
    }


def _drop(client: redis.Redis) -> None:
    for key in client.scan_iter(match=f"{NS}:*", count=1000):
        client.delete(key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not 0 < args.rows <= 10_000:
        raise SystemExit("--rows: 1..10000")
    configure_logging("WARNING")
    if shutil.which("redis-server") is None:
        raise SystemExit("bench.failover needs a redis-server binary")
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        try:
            primary_port, replica_port = _free_port(), _free_port()
            procs.append(_server(Path(tmp) / "primary", primary_port))
            procs.append(
                _server(
                    Path(tmp) / "replica",
                    replica_port,
                    "--replicaof",
                    "127.0.0.1",
                    str(primary_port),
                )
            )
            client = make_redis(f"redis://127.0.0.1:{primary_port}/0")
            deadline = time.monotonic() + 20
            while client.info("replication").get("connected_slaves") != 1:
                if time.monotonic() > deadline:
                    raise SystemExit("the replica did not connect")
                time.sleep(0.05)  # polling the replica's link
            one_run(client, 50, 1)  # warm-up: scripts loaded, connections open
            results: dict[int, list[dict[str, float]]] = {0: [], 1: []}
            for _ in range(args.runs):
                for min_replicas in (0, 1):
                    _drop(client)
                    results[min_replicas].append(one_run(client, args.rows, min_replicas))
            _drop(client)
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
    base = statistics.median(r["ms_per_dial"] for r in results[0])
    for min_replicas, runs in results.items():
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        each = ", ".join(f"{r['ms_per_dial']:.3f}" for r in runs)
        print(
            f"MIN_REPLICAS={min_replicas}: {medians['ms_per_dial']:.3f} ms per dial "
            f"(runs {each}; "
            f"{medians['ms_per_dial'] / base:.2f}x of MIN_REPLICAS=0), Redis CPU "
            f"{medians['redis_cpu_us_per_dial']:.0f} us per dial, "
            f"{medians['commands_per_dial']:.1f} commands per dial, "
            f"{medians['events_per_dial']:.1f} events per dial"
        )
    added = statistics.median(r["ms_per_dial"] for r in results[1]) - base
    print(f"the two WAITs add {added:.3f} ms per dial ({args.rows} rows, {args.runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
