"""Processes and the Redis server: a real ``batchdial worker``, /proc readings, INFO.

Worker processes are always stopped (TERM, then KILL).
"""

from __future__ import annotations

import os
import platform
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis

from bench.common import BenchError
from bench.scratch import Scratch


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            out += [int(p) for p in (task / "children").read_text().split()]
    return out


def rss_kb(pid: int) -> int | None:
    """VmRSS of ``pid`` in kB (None when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WorkerProcs:
    """A running ``batchdial worker`` supervisor and its worker processes."""

    def __init__(self, proc: Any, log: Path, processes: int) -> None:
        self.proc = proc
        self.log = log
        self.processes = processes

    @property
    def children(self) -> list[int]:
        """PIDs of the worker processes (the supervisor's children)."""
        return child_pids(self.proc.pid)

    def cpu(self) -> float:
        """CPU seconds of the worker processes so far."""
        return sum(cpu_seconds(p) for p in self.children)

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the worker's log."""
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


@contextmanager
def batchdial_worker(
    scratch_ns: Scratch,
    tmp: Path,
    *,
    processes: int = 1,
    threads: int = 8,
    call_s: float = 0.0,
    log_level: str = "INFO",
    env: dict[str, str] | None = None,
    queues: str | None = None,
) -> Iterator[WorkerProcs]:
    """A real ``batchdial worker --processes P --threads T`` on the scratch namespace,
    with the simulated dialer (calls of ``call_s``, all completed), metrics off.
    Yields once every worker process consumes; stopped (TERM, then KILL) at exit.
    ``env``: more settings of the workers (``BATCHDIAL_…``); ``queues``: its ``--queues``."""
    from tests.support.procs import env_for, running  # noqa: PLC0415 -- the process helpers

    metrics_dir = tmp / f"metrics-{secrets.token_hex(3)}"
    metrics_dir.mkdir()
    process_env = env_for(
        scratch_ns.namespace,
        scratch_ns.url,
        BATCHDIAL_SIMULATED_CALL_SECONDS=str(call_s),
        BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
        BATCHDIAL_LOG_LEVEL=log_level,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        **(env or {}),
    )
    log = tmp / f"worker-{processes}x{threads}-{call_s}-{secrets.token_hex(3)}.log"
    args: tuple[str, ...] = ("worker", "--processes", str(processes), "--threads", str(threads))
    if queues is not None:
        args += ("--queues", queues)
    heartbeats = f"{scratch_ns.keys.broker_namespace}:__heartbeats__"
    # Brokers of workers stopped earlier in the namespace stay in the set: only new
    # members say that the processes started here are ready.
    before = set(cast(list[str], scratch_ns.client.zrange(heartbeats, 0, -1)))
    with running(*args, env=process_env, log=log) as proc:
        procs = WorkerProcs(proc, log, processes)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise BenchError(f"batchdial worker exited: {procs.log_tail()}")
            # Each worker process's broker registers in dramatiq's heartbeat set when its
            # consumers first fetch: that is "ready", whatever the log level.
            members = set(cast(list[str], scratch_ns.client.zrange(heartbeats, 0, -1)))
            ready = len(members - before)
            if ready >= processes and len(procs.children) >= processes:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"batchdial worker not ready after 60 s: {procs.log_tail()}")
            time.sleep(0.1)
        yield procs


# -- Redis server facts ---------------------------------------------------------------
def commandstats(client: redis.Redis) -> Counter[str]:
    """Calls per command so far (INFO commandstats), e.g. {'evalsha': 123, ...}."""
    info = cast(dict[str, dict[str, Any]], client.info("commandstats"))
    return Counter(
        {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in info.items()}
    )


def redis_cpu(client: redis.Redis) -> float:
    """CPU seconds (user + sys, main thread and children) the Redis server has used."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def machine_facts(client: redis.Redis) -> dict[str, str]:
    """nproc, CPU model, memory, Python, Redis, load, date: for RESULTS.md."""
    model = "unknown"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    server = client.info("server")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "redis": f"{server.get('redis_version')} (shared with other tenants)",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
