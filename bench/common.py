"""What every benchmark shares: scratch namespaces, jobs, worker processes, figures.

Every benchmark works in a namespace of its own (``bench-<random>``) on the shared
Redis and deletes only that namespace's keys when it ends, also on failure. Worker
processes are always stopped (TERM, then KILL). Nothing here asserts on speed.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis

from config.redis import make_redis
from domain.keys import Keys
from producer.service import Producer
from producer.validation import Limits

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REDIS_URL = os.environ.get("BATCHDIAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Caller-ID pool of every benchmark workspace.
POOL = ["+12125550100", "+13125550100", "+14155550100", "+16175550100"]
_AREA_CODES = (212, 213, 312, 415, 503, 617, 646, 702, 718, 917, 303, 404, 206, 305, 713)
_EXCHANGES = (555, 234, 345, 456, 567, 678, 789, 890)


class BenchError(RuntimeError):
    """A benchmark could not measure what it wanted (not a slow result: a failure)."""


# -- figures -----------------------------------------------------------------------
@dataclass
class Figure:
    """One measured figure, with its target and the baseline measured in the same run."""

    label: str
    value: float | None
    unit: str = ""
    digits: int = 3
    target: str = ""
    met: bool | None = None
    baseline_label: str = ""
    baseline: float | None = None
    baseline_unit: str | None = None
    ratio: float | None = None
    runs: list[float] = field(default_factory=list)
    command: str = ""
    note: str = ""

    def show(self, value: float | None = None, unit: str | None = None) -> str:
        """``value`` (default: the figure) with its unit, formatted."""
        v = self.value if value is None else value
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "n/a"
        text = f"{v:,.{self.digits}f}"
        return f"{text} {self.unit if unit is None else unit}".strip()

    def show_baseline(self) -> str:
        """The baseline with its unit."""
        return self.show(self.baseline, self.baseline_unit)


@dataclass
class Section:
    """What one benchmark reports: its figures and notes (markdown lines)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What holds back the figures not met, with the evidence (markdown lines).
    holdback: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def median(values: list[float]) -> float:
    """Median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def runs_text(values: list[float], digits: int = 0) -> str:
    """``a, b, c`` for the runs of a figure."""
    return ", ".join(f"{v:,.{digits}f}" for v in values)


# -- Redis scratch namespaces ----------------------------------------------------------
def new_namespace() -> str:
    """A fresh namespace name: ``bench-<8 hex>``."""
    return f"bench-{secrets.token_hex(4)}"


def drop_namespace(client: redis.Redis, namespace: str) -> int:
    """Delete (UNLINK: freed off the main thread) every key of ``namespace``."""
    assert namespace.startswith("bench-"), namespace
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(match=f"{namespace}:*", count=2000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += cast(int, client.unlink(*batch))
            batch = []
    if batch:
        deleted += cast(int, client.unlink(*batch))
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


# -- event replays ------------------------------------------------------------------
def marks_of(events: list[tuple[int, str, dict[str, Any]]]) -> list[tuple[float, int]]:
    """(ms, +1/-1) of every dial.started / dial.finished, in log order."""
    return [
        (float(ms), 1 if kind == "dial.started" else -1)
        for ms, kind, _ in events
        if kind in ("dial.started", "dial.finished")
    ]


def marks_of_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """(ms, +1/-1) of (start s, end s) intervals, in time order (ends first on ties)."""
    marks = [(t0 * 1000, 1) for t0, _ in intervals] + [(t1 * 1000, -1) for _, t1 in intervals]
    marks.sort(key=lambda m: (m[0], m[1]))
    return marks


def utilisation(marks: list[tuple[float, int]], cap: int) -> tuple[float, int, float]:
    """Mean calls in progress / cap, time-weighted, from the first start to the last start
    (while rows remain); also the peak and the span in seconds."""
    starts = [t for t, d in marks if d > 0]
    if not starts:
        return float("nan"), 0, 0.0
    first, end = starts[0], starts[-1]
    live = peak = 0
    last: float | None = None
    area = 0.0
    for t, d in marks:
        if t > end:
            break
        if last is not None:
            area += live * (t - last)
        last = t
        live += d
        peak = max(peak, live)
    span = end - first
    return (area / span / cap if span > 0 else 1.0), peak, span / 1000


# -- processes ---------------------------------------------------------------------
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
) -> Iterator[WorkerProcs]:
    """A real ``batchdial worker --processes P --threads T`` on the scratch namespace,
    with the simulated dialer (calls of ``call_s``, all completed), metrics off.
    Yields once every worker process consumes; stopped (TERM, then KILL) at exit."""
    from tests.support.procs import env_for, running  # noqa: PLC0415 -- the e2e process helpers

    metrics_dir = tmp / f"metrics-{secrets.token_hex(3)}"
    metrics_dir.mkdir()
    env = env_for(
        scratch_ns.namespace,
        scratch_ns.url,
        BATCHDIAL_SIMULATED_CALL_SECONDS=str(call_s),
        BATCHDIAL_SIMULATED_OUTCOMES="completed=1",
        BATCHDIAL_LOG_LEVEL=log_level,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    log = tmp / f"worker-{processes}x{threads}-{call_s}-{secrets.token_hex(3)}.log"
    args = ("worker", "--processes", str(processes), "--threads", str(threads))
    heartbeats = f"{scratch_ns.keys.broker_namespace}:__heartbeats__"
    with running(*args, env=env, log=log) as proc:
        procs = WorkerProcs(proc, log, processes)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise BenchError(f"batchdial worker exited: {procs.log_tail()}")
            # Each worker process's broker registers in dramatiq's heartbeat set when its
            # consumers first fetch: that is "ready", whatever the log level.
            ready = cast(int, scratch_ns.client.zcard(heartbeats))
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
    info = cast(dict[str, Any], client.info("cpu"))
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
    server = cast(dict[str, Any], client.info("server"))
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


@contextmanager
def py_spy(tool: str, pid: int, seconds: float, out: Path) -> Iterator[None]:
    """Sample ``pid`` with py-spy (only the thread holding the GIL: where the CPU goes)
    for ``seconds`` from entering the block; waits for the recording at exit."""
    spy = subprocess.Popen(
        [
            tool,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "250",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        yield
        spy.wait(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait(timeout=10)


#: Frames every stack of a thread goes through: not worth listing.
_PROFILE_FRAMEWORK = ("threading.py", "dramatiq/worker.py", "dramatiq/actor.py", "asyncio/")


def load_pyspy(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """Inclusive and own samples per function of a py-spy raw file, and the total."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return inclusive, own, 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    return inclusive, own, total


def share(inclusive: Counter[str], total: int, *needles: str) -> float:
    """The largest inclusive share of a function whose name contains every needle."""
    found = [n for f, n in inclusive.items() if all(x in f for x in needles)]
    return max(found, default=0) / total if total else 0.0


def summarize_pyspy(path: Path, what: str, top: int = 22) -> list[str]:
    """Markdown lines: the functions that most CPU samples went through (inclusive)."""
    inclusive, own, total = load_pyspy(path)
    if not total:
        return ["(py-spy recorded no samples: not installed, or ptrace refused)"]
    listed = [
        (frame, n)
        for frame, n in inclusive.most_common()
        if not any(x in frame for x in _PROFILE_FRAMEWORK) and n / total >= 0.02
    ][:top]
    return [
        f"py-spy of {what} ({total} samples of the thread holding the GIL): the functions "
        "the most samples went through (inclusive), then by own samples",
        "",
        "| function (inclusive) | share |",
        "| --- | --- |",
        *(f"| `{frame}` | {n / total:.0%} |" for frame, n in listed),
        "",
        "| function (own) | share |",
        "| --- | --- |",
        *(f"| `{frame}` | {n / total:.0%} |" for frame, n in own.most_common(8)),
    ]


def _short(frame: str) -> str:
    """``fn (path/to/site-packages/pkg/mod.py:12)`` -> ``fn (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})".replace("|", "/")


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``check`` until it is true; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()
