"""Engine benchmarks: slot utilisation, dial throughput (and scale-out, Redis round
trips), window-opening and pause latency.

batchdial runs in real ``batchdial worker`` processes (the supervisor and its worker
processes, simulated dialer, every call ``completed``, metrics off, default log level
INFO); jobs are created and steered in this process through the Python producer API.
Each figure's baseline is measured in the same run, interleaved with it:

- utilisation: plain dramatiq with its ``ConcurrentRateLimiter`` (see
  ``bench/dramatiq_baseline.py``), same cap, same call length, same messages;
- throughput: a dramatiq no-op actor drained by the same processes x threads.

Reproduce: ``.venv/bin/python -m bench.engine`` (utilisation, throughput, latency)
or ``.venv/bin/python -m bench --only NAME``.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import redis

from bench import dramatiq_baseline as baseline
from bench.common import (
    BenchError,
    Figure,
    JobRef,
    Scratch,
    Section,
    batchdial_worker,
    commandstats,
    load_pyspy,
    marks_of,
    marks_of_intervals,
    median,
    percentile,
    py_spy,
    redis_cpu,
    runs_text,
    scratch,
    share,
    summarize_pyspy,
    utilisation,
    wait_until,
)
from bench.suite import Ctx

UTIL_CONFIGS = ((20, 0.05), (200, 0.05), (20, 1.0), (200, 1.0))
UTIL_TARGET = 0.97
THROUGHPUT_TARGET = 0.6
SCALE_TARGET = 1.7
THROUGHPUT_CAP = 100
THREADS = 8


def baseline_threads(cap: int) -> int:
    """Worker threads of the ConcurrentRateLimiter baseline: the cap plus 25 %."""
    return cap + max(4, cap // 4)


# -- 1. slot utilisation ------------------------------------------------------------
def _hold_ms(events: list[tuple[int, str, dict[str, Any]]]) -> float:
    """Mean time a dial holds its slot: dial.started -> dial.finished of the same dial."""
    started: dict[str, int] = {}
    holds = []
    for ms, kind, body in events:
        if kind == "dial.started":
            started[body["dialId"]] = ms
        elif kind == "dial.finished" and body.get("dialId") in started:
            holds.append(ms - started[body["dialId"]])
    return sum(holds) / len(holds) if holds else float("nan")


def _delivered(calls: list[tuple[float, float]], cap: int, first: float, last: float) -> float:
    """Call time inside [first, last] / (cap x (last - first)): the share of slot time that
    carried a call. ``calls`` are (start, end) of each call in ms."""
    span = last - first
    if span <= 0:
        return float("nan")
    inside = sum(max(0.0, min(end, last) - max(start, first)) for start, end in calls)
    return inside / (cap * span)


def _run_batchdial_cap(
    s: Scratch, rows: int, cap: int, call_s: float, limit_s: float
) -> dict[str, float]:
    """One job in the running worker; its utilisation as replayed from the event log."""
    ref = s.create_job(rows, cap)
    try:
        s.start(ref)
        s.wait_status(ref, {"COMPLETE"}, limit_s)
    finally:
        s.stop_job(ref, settle_s=call_s + 0.3)
    events = s.events(ref)
    marks = marks_of(events)
    util, peak, span = utilisation(marks, cap)
    starts = [t for t, d in marks if d > 0]
    # The simulated call itself lasts exactly D from its start.
    calls = [(t, t + call_s * 1000) for t in starts]
    return {
        "util": util,
        "peak": peak,
        "span": span,
        "n": len(starts) - 1,
        "delivered": _delivered(calls, cap, starts[0], starts[-1]),
        "hold_ms": _hold_ms(events),
    }


def _run_limiter_cap(
    ctx: Ctx, s: Scratch, client: tuple[Any, dict[str, Any]], *, rows: int, cap: int, call_s: float
) -> dict[str, float]:
    """The ConcurrentRateLimiter baseline, replayed the same way."""
    broker, actors = client
    limit_s = (4.0 if ctx.quick else 8.0) + 1.0
    tag = f"c{cap}-d{call_s}-{random.randrange(1 << 30)}"
    baseline.prefill(broker, actors["limited"], (tag, cap, call_s), rows)
    with baseline.children(
        ctx.url, s.namespace, ctx.tmp, processes=1, threads=baseline_threads(cap)
    ) as children:
        children.go()
        wait_until(lambda: baseline.qsize(broker, baseline.LIMITED_QUEUE) == 0, limit_s, 0.1)
        results = children.stop()
    # What is left (time limit reached) must not leak into the next run.
    broker.flush(baseline.LIMITED_QUEUE)
    records = [r for res in results for r in res.records]
    marks = marks_of_intervals(records)
    util, peak, span = utilisation(marks, cap)
    starts = [t for t, d in marks if d > 0]
    calls = [(t0 * 1000, t1 * 1000) for t0, t1 in records]
    return {
        "util": util,
        "peak": peak,
        "span": span,
        "n": len(starts) - 1,
        "delivered": _delivered(calls, cap, starts[0], starts[-1]) if starts else float("nan"),
        "hold_ms": median([(t1 - t0) * 1000 for t0, t1 in records]),
    }


def bench_utilisation(ctx: Ctx) -> Section:
    """Figure 1: mean calls in progress / cap while rows remain, vs ConcurrentRateLimiter."""
    work_s = 4.0 if ctx.quick else 8.0
    limit_s = work_s + 1.0
    runs = ctx.runs if ctx.runs_given else min(ctx.runs, 2)
    max_rows = 4_000 if ctx.quick else 10_000
    section = Section("utilisation", "1. Slot utilisation")
    figs: dict[tuple[int, float], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rows_of: dict[tuple[int, float], int] = {}
    with scratch(ctx.url) as s:
        client = baseline.client_broker(ctx.url, s.namespace)
        for call_s in sorted({d for _, d in UTIL_CONFIGS}):
            with batchdial_worker(s, ctx.tmp, processes=1, threads=THREADS, call_s=call_s):
                for run in range(runs):
                    for cap, d in UTIL_CONFIGS:
                        if d != call_s:
                            continue
                        rows = rows_of[(cap, d)] = min(math.ceil(cap * work_s / d), max_rows)
                        f = figs[(cap, d)]
                        for who in ("bd", "lim"):
                            r = (
                                _run_batchdial_cap(s, rows, cap, d, limit_s)
                                if who == "bd"
                                else _run_limiter_cap(ctx, s, client, rows=rows, cap=cap, call_s=d)
                            )
                            for k, v in r.items():
                                f[f"{who}_{k}"].append(v)
                            ctx.log(
                                f"utilisation cap {cap}, {d:g} s calls, run {run + 1}, {who}: "
                                f"{r['util']:.3f} (peak {r['peak']:.0f}, {r['n']:.0f} calls in "
                                f"{r['span']:.1f} s, delivered {r['delivered']:.3f}, slot held "
                                f"{r['hold_ms']:.0f} ms/call)"
                            )
    for cap, call_s in UTIL_CONFIGS:
        f = figs[(cap, call_s)]
        value, base = median(f["bd_util"]), median(f["lim_util"])
        section.figures.append(
            Figure(
                label=f"utilisation, cap {cap}, {call_s:g} s calls",
                value=value,
                target=f">= {UTIL_TARGET}",
                met=value >= UTIL_TARGET,
                baseline_label="dramatiq ConcurrentRateLimiter",
                baseline=base,
                ratio=value / base if base else None,
                runs=f["bd_util"],
                command=ctx.command("utilisation"),
                note=(
                    f"{rows_of[(cap, call_s)]:,} rows. batchdial: peak "
                    f"{max(f['bd_peak']):.0f}/{cap}, {median(f['bd_n']):,.0f} calls started "
                    f"over {median(f['bd_span']):.1f} s, slot held {median(f['bd_hold_ms']):.0f}"
                    f" ms per {call_s * 1000:.0f} ms call, delivered call time / slot time "
                    f"{median(f['bd_delivered']):.3f}. Limiter: runs "
                    f"{runs_text(f['lim_util'], 3)}, peak {max(f['lim_peak']):.0f}/{cap}, "
                    f"{median(f['lim_n']):,.0f} calls over {median(f['lim_span']):.1f} s, "
                    f"delivered {median(f['lim_delivered']):.3f}"
                ),
            )
        )
    for cap, call_s in UTIL_CONFIGS:
        f = figs[(cap, call_s)]
        value, base = median(f["bd_delivered"]), median(f["lim_delivered"])
        section.figures.append(
            Figure(
                label=f"  delivered call time / slot time, cap {cap}, {call_s:g} s calls",
                value=value,
                baseline_label="dramatiq ConcurrentRateLimiter",
                baseline=base,
                ratio=value / base if base else None,
                runs=f["bd_delivered"],
                command=ctx.command("utilisation"),
                note="no target: the cross-check of the figure above (see below)",
            )
        )
    section.notes += [
        "How: batchdial in a real `batchdial worker --processes 1 --threads 8` process "
        "(`BATCHDIAL_SIMULATED_CALL_SECONDS=D`, `BATCHDIAL_SIMULATED_OUTCOMES=completed=1`, "
        "`BATCHDIAL_METRICS_PORT=0`), one job of cap C in a workspace of limit C with a pool "
        "of 4 numbers of limit C each. Utilisation = time-weighted mean of dials in progress "
        "/ C from the first `dial.started` to the last `dial.started` of the job's event log "
        "(`bench.common.utilisation`, as in the earlier `bench/engine.py`).",
        '"Delivered" = call time inside that span / (C x span), a call lasting D from its '
        "start (exactly so for the simulated dialer): the slot time that actually carried "
        "calls. A dial holds its slot from `dial.started` until "
        "`dial.finished` is written, which is later than the end of the simulated call "
        'when the worker is busy; where "slot held" is well above D, utilisation counts '
        "slots held by calls that have already ended.",
        f"Rows: C x {work_s:g} s / D, at most {max_rows:,}; a batchdial run stops after "
        f"{limit_s:g} s (the job is cancelled), the baseline likewise, so that cap 200 "
        "with 0.05 s calls, which would need 4,000 calls/s, stays bounded; rows remain "
        f"throughout the measured span. {runs} runs of each (median).",
        "Baseline: plain dramatiq 2.2 in its own worker process, an actor that holds "
        "`ConcurrentRateLimiter(RedisBackend(...), key, limit=C)` (its own key under the "
        "scratch namespace) while it sleeps D, start/end recorded inside the limiter and "
        "replayed with the same function; the same number of messages (pre-filled), "
        f"worker threads = C + 25 % ({baseline_threads(20)} and {baseline_threads(200)}) so "
        "threads are not the limit, `max_retries=1_000_000, min_backoff=100, "
        "max_backoff=2_000` (ms): a message that finds no free slot raises "
        "`RateLimitExceeded` and is retried with exponential backoff, as a user of the "
        "limiter would configure it.",
    ]
    section.holdback = _utilisation_holdback(figs)
    return section


def _utilisation_holdback(figs: dict[tuple[int, float], dict[str, list[float]]]) -> list[str]:
    lines = []
    for cap, d in UTIL_CONFIGS:
        f = figs[(cap, d)]
        u, hold = median(f["bd_util"]), median(f["bd_hold_ms"])
        if u >= UTIL_TARGET:
            continue
        rate = median(f["bd_n"]) / median(f["bd_span"])
        lines.append(
            f"- cap {cap}, {d:g} s calls: {u:.3f}. A slot is held {hold:.0f} ms per "
            f"{d * 1000:.0f} ms call, then idle {hold * (1 / u - 1):.0f} ms on average before "
            f"its next `dial.started`; calls started over the span: {rate:,.0f}/s (C / D = "
            f"{cap / d:,.0f}/s); delivered call time / slot time "
            f"{median(f['bd_delivered']):.3f}."
        )
    if lines:
        lines += [
            "- Why a slot idles: after a call ends, `finish_dial.lua` records it, frees its "
            "leases and releases the next row in one step, then a continuation thread (4 per "
            "process) claims that row with `claim.lua`. Those two scripts and the Python "
            "around them are the cost of one dial, over a millisecond of worker CPU (figure "
            "2), and one process starts only a few hundred calls per second. With calls of "
            "0.05 s that cost is a few % of each cycle; with cap 200, a wave of 200 calls "
            "ending together takes a sizeable part of a second to refill, and so does the "
            "first fill of the cap, which the span includes.",
            "- Cap 200 x 0.05 s asks 4,000 calls/s of one worker process: its calls end "
            "late, because the simulated dialer ends every call on its one timer thread, "
            "one after another (a `finish_dial.lua` round trip and a log line each, in a "
            "process already short of CPU), so slots stay held several times longer than "
            "the call. With the http dialer, ends arrive through the API's callbacks "
            "instead. The event-log figure stays near the cap while the "
            "delivered call time is far lower; only a faster dial path (figure 2) or more "
            "processes (figure 6) raise it. The baseline is far lower still.",
        ]
    return lines


# -- 2. throughput, round trips, 6. scale-out -----------------------------------------
class CountingConnection(redis.Connection):
    """A connection that counts requests (round trips) and commands by name."""

    counts: ClassVar[Counter[str]] = Counter()

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self.counts["_round_trips"] += 1
        self.counts[str(args[0]).lower()] += 1
        super().send_command(*args, **kwargs)

    def pack_commands(self, commands: Any) -> Any:
        commands = list(commands)
        self.counts["_round_trips"] += 1
        for cmd in commands:
            self.counts[str(cmd[0]).lower()] += 1
        return super().pack_commands(commands)


def _counting_client(url: str, decode: bool) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(
        url, connection_class=CountingConnection, decode_responses=decode
    )
    return redis.Redis(connection_pool=pool)


def round_trips_in_process(ctx: Ctx, rows: int) -> tuple[Counter[str], int, float]:
    """Client-side requests of one in-process worker (build_runtime) for a job of
    zero-length calls: exact, whatever else the shared Redis serves."""
    from config.settings import load_settings  # noqa: PLC0415
    from worker.dialers.simulated import SimulatedDialer  # noqa: PLC0415
    from worker.runtime import build_runtime  # noqa: PLC0415

    with scratch(ctx.url) as s:
        ref = s.create_job(rows, THROUGHPUT_CAP)
        settings = load_settings(redis_url=ctx.url, namespace=s.namespace)
        runtime = build_runtime(
            settings,
            threads=THREADS,
            state_client=_counting_client(ctx.url, True),
            broker_client=_counting_client(ctx.url, False),
            dialer=SimulatedDialer(0.0, {"completed": 1}),
        )
        runtime.start()
        try:
            time.sleep(1.0)
            idle = Counter(CountingConnection.counts)
            time.sleep(1.0)
            idle_per_s = sum((Counter(CountingConnection.counts) - idle).values()) / 1.0
            before = Counter(CountingConnection.counts)
            s.start(ref)
            if not s.wait_status(ref, {"COMPLETE"}, 120):
                raise BenchError("in-process round-trip job did not complete in 120 s")
            delta = Counter(CountingConnection.counts) - before
        finally:
            runtime.stop(grace_s=2)
        dials = sum(1 for _, kind, _ in s.events(ref) if kind == "dial.started")
    return delta, dials, idle_per_s


def _profile_worker(
    ctx: Ctx, s: Scratch, pid: int, rows: int
) -> tuple[list[str], dict[str, float]]:
    """py-spy a worker process while it dials a job: a summary as markdown lines, and
    the shares of the main costs."""
    if not ctx.py_spy:
        return ["(py-spy not installed: no worker profile; `--profile` uses it when present)"], {}
    out = ctx.tmp / "worker.pyspy.txt"
    ref = s.create_job(rows, THROUGHPUT_CAP)
    try:
        with py_spy(ctx.py_spy, pid, 6.0, out):
            s.start(ref)
    finally:
        s.stop_job(ref)
    inclusive, _, total = load_pyspy(out)
    shares = {
        "scripts": share(inclusive, total, "Scripts.__call__"),
        "pack": share(inclusive, total, "PythonRespSerializer.pack"),
        "parse": share(inclusive, total, "read_response", "redis/connection.py"),
        "logging": share(inclusive, total, "BoundLogger", "structlog/stdlib.py"),
        "broker": share(inclusive, total, "_RedisConsumer", "dramatiq/brokers/redis.py"),
    }
    what = "one worker process (1x8) dialing zero-length calls"
    return summarize_pyspy(out, what), shares if total else {}


def _noop_run(
    ctx: Ctx, s: Scratch, client: tuple[Any, dict[str, Any]], *, messages: int, processes: int
) -> tuple[float, float, int]:
    """Drain ``messages`` no-op messages with P x 8 threads; rate, CPU s, Redis calls."""
    broker, actors = client
    baseline.prefill(broker, actors["noop"], (), messages)
    with baseline.children(
        ctx.url, s.namespace, ctx.tmp, processes=processes, threads=THREADS
    ) as children:
        calls0 = commandstats(s.client)
        children.go()
        drained = wait_until(
            lambda: baseline.qsize(broker, baseline.NOOP_QUEUE) == 0, 120, interval_s=0.02
        )
        calls = sum((commandstats(s.client) - calls0).values())
        results = children.stop()
    if not drained:
        raise BenchError(f"the no-op queue was not drained in 120 s ({processes} processes)")
    records = [r for res in results for r in res.records]
    span = max(r[1] for r in records) - min(r[0] for r in records)
    return len(records) / span, sum(r.cpu_s for r in results), calls


def _throughput_figures(
    ctx: Ctx,
    data: dict[int, dict[str, list[float]]],
    *,
    trips: Counter[str],
    trip_dials: int,
    idle_per_s: float,
) -> list[Figure]:
    figures: list[Figure] = []
    for p in (1, 2):
        d = data[p]
        rate, noop = median(d["rate"]), median(d["noop"])
        figures.append(
            Figure(
                label=f"dial throughput, {p} process{'es' if p > 1 else ''} x {THREADS} threads",
                value=rate,
                unit="dials/s",
                digits=0,
                target=f">= {THROUGHPUT_TARGET} x no-op",
                met=rate >= THROUGHPUT_TARGET * noop,
                baseline_label="dramatiq no-op actor",
                baseline=noop,
                baseline_unit="msgs/s",
                ratio=rate / noop,
                runs=d["rate"],
                command=ctx.command("throughput"),
                note=(
                    f"cap {THROUGHPUT_CAP}, zero-length calls; no-op runs "
                    f"{runs_text(d['noop'])} msgs/s; worker CPU "
                    f"{median(d['cpu_per_dial_ms']):.2f} ms/dial "
                    f"({median(d['cores']):.2f} cores busy) vs no-op "
                    f"{median(d['noop_cpu_per_msg_ms']):.2f} ms/message; Redis CPU "
                    f"{median(d['redis_cpu_per_dial_ms']):.2f} ms/dial (all tenants)"
                ),
            )
        )
    for p in (1, 2):
        d = data[p]
        figures.append(
            Figure(
                label=f"Redis commands per dial ({p}x{THREADS}, INFO commandstats)",
                value=median(d["calls_net"]),
                unit="calls",
                digits=1,
                baseline_label="no-op actor, per message",
                baseline_unit="calls",
                baseline=median(d["noop_calls"]),
                ratio=median(d["calls_net"]) / median(d["noop_calls"]),
                runs=d["calls_net"],
                command=ctx.command("throughput"),
                note=(
                    f"raw delta {median(d['calls_raw']):.1f}/dial less the quiet rate "
                    f"({median(d['quiet']):.0f} calls/s measured just before, idle workers and "
                    "other tenants) over the run; counts commands run inside Lua scripts "
                    f"too; EVALSHA {median(d['evalsha']):.1f}/dial. The no-op baseline is "
                    "raw (not net of other tenants)"
                ),
            )
        )
    round_trips = trips["_round_trips"] / trip_dials
    figures.append(
        Figure(
            label="Redis round trips per dial (client side, exact)",
            value=round_trips,
            unit="requests",
            digits=2,
            command=ctx.command("throughput"),
            note=(
                f"in-process worker (build_runtime, {THREADS} threads, counting connections), "
                f"{trip_dials:,} zero-length dials; idle worker {idle_per_s:.0f} requests/s; "
                "per dial: "
                + ", ".join(
                    f"{name} {n / trip_dials:.2f}"
                    for name, n in trips.most_common()
                    if name != "_round_trips" and n / trip_dials >= 0.05
                )
            ),
        )
    )
    # Per run: the 2-process figure over the 1-process one measured just before it.
    scale = [b / a for a, b in zip(data[1]["rate"], data[2]["rate"], strict=True)]
    noop_scale = median([b / a for a, b in zip(data[1]["noop"], data[2]["noop"], strict=True)])
    one, two = median(data[1]["rate"]), median(data[2]["rate"])
    figures.append(
        Figure(
            label="scale-out, 2 vs 1 worker processes",
            value=median(scale),
            unit="x",
            digits=2,
            target=f">= {SCALE_TARGET}x",
            met=median(scale) >= SCALE_TARGET,
            baseline_label="no-op actor 2 vs 1 processes",
            baseline=noop_scale,
            ratio=median(scale) / noop_scale,
            runs=scale,
            command=ctx.command("scaleout"),
            note=(
                "median of the per-run ratios (1 and 2 processes alternate within a run); "
                f"medians {two:.0f} vs {one:.0f} dials/s; with 2 processes the workers kept "
                f"{median(data[2]['cores']):.2f} cores busy (1 process: "
                f"{median(data[1]['cores']):.2f}) on a {_nproc()}-core machine that also runs "
                "Redis and this benchmark"
            ),
        )
    )
    return figures


def _dial_run(
    s: Scratch, w: Any, rows: int, quiet_rate: float, target_s: float
) -> tuple[dict[str, float], Counter[str]]:
    """One zero-length-call job in the running workers; its rate, CPU and Redis calls."""
    ref = s.create_job(rows, THROUGHPUT_CAP)
    c0 = commandstats(s.client)
    cpu0, rcpu0, t0 = w.cpu(), redis_cpu(s.client), time.monotonic()
    s.start(ref)
    done = s.wait_status(ref, {"COMPLETE"}, target_s * 6)
    wall = time.monotonic() - t0
    delta = commandstats(s.client) - c0
    cpu, rcpu = w.cpu() - cpu0, redis_cpu(s.client) - rcpu0
    if not done:
        s.stop_job(ref, settle_s=0.5)
    events = s.events(ref)
    starts = [ms for ms, kind, _ in events if kind == "dial.started"]
    ends = [ms for ms, kind, _ in events if kind == "dial.finished"]
    if not starts or not ends:
        raise BenchError(f"no dials in {wall:.0f} s: {w.log_tail()}")
    n = len(starts)
    return {
        "dials": n,
        "rate": n / ((max(ends) - min(starts)) / 1000),
        "cpu_per_dial_ms": cpu / n * 1000,
        "cores": cpu / wall,
        "redis_cpu_per_dial_ms": rcpu / n * 1000,
        "calls_raw": sum(delta.values()) / n,
        "calls_net": (sum(delta.values()) - quiet_rate * wall) / n,
        "evalsha": delta.get("evalsha", 0) / n,
    }, delta


def bench_throughput(ctx: Ctx) -> Section:
    """Figures 2 and 6: dials/s of zero-length calls with 1x8 and 2x8, vs a no-op actor."""
    target_s = 5.0 if ctx.quick else 10.0
    section = Section("throughput", "2. Dial throughput, Redis round trips; 6. Scale-out")
    data: dict[int, dict[str, list[float]]] = {p: defaultdict(list) for p in (1, 2)}
    profile_lines: list[str] = []
    profile_shares: dict[str, float] = {}
    rows = {1: int(target_s * 500), 2: int(target_s * 650)}
    cmd_per_dial: Counter[str] = Counter()
    with scratch(ctx.url) as s:
        client = baseline.client_broker(ctx.url, s.namespace)
        # 1 and 2 processes alternate within each run (fresh workers each time: idle
        # workers poll Redis and would take CPU from the others), so that the scale-out
        # ratio compares runs measured a minute apart, not minutes apart.
        for run in range(ctx.runs):
            for processes in (1, 2):
                d, n = data[processes], rows[processes]
                ctx.log(f"throughput {processes}x{THREADS}, run {run + 1}: {n} rows")
                with batchdial_worker(s, ctx.tmp, processes=processes, threads=THREADS) as w:
                    # What the shared Redis serves while we do not dial (idle workers and
                    # other tenants), per second: subtracted from the run's delta.
                    c0, t0 = commandstats(s.client), time.monotonic()
                    time.sleep(1.0)
                    quiet = sum((commandstats(s.client) - c0).values()) / (time.monotonic() - t0)
                    r, delta = _dial_run(s, w, n, quiet, target_s)
                d["quiet"].append(quiet)
                for k, v in r.items():
                    d[k].append(v)
                if processes == 1:
                    for name, count in delta.items():
                        cmd_per_dial[name] += count / r["dials"] / ctx.runs
                ctx.log(
                    f"  batchdial {r['rate']:.0f} dials/s ({r['dials']:.0f} dials, worker "
                    f"{r['cpu_per_dial_ms']:.2f} ms CPU/dial)"
                )
                noop, noop_cpu, noop_calls = _noop_run(
                    ctx, s, client, messages=n, processes=processes
                )
                d["noop"].append(noop)
                d["noop_cpu_per_msg_ms"].append(noop_cpu / n * 1000)
                d["noop_calls"].append(noop_calls / n)
                ctx.log(f"  no-op     {noop:.0f} msgs/s")
                rows[processes] = max(1000, min(40_000, int(r["rate"] * target_s)))
        if ctx.profile:
            ctx.log("throughput: profiling a worker process with py-spy")
            with batchdial_worker(s, ctx.tmp, processes=1, threads=THREADS) as w:
                profile_lines, profile_shares = _profile_worker(ctx, s, w.children[0], rows[1])
    ctx.log("throughput: exact client-side round trips, in-process worker")
    trips, trip_dials, idle_per_s = round_trips_in_process(ctx, 1000 if ctx.quick else 2000)

    section.figures += _throughput_figures(
        ctx,
        data,
        trips=trips,
        trip_dials=trip_dials,
        idle_per_s=idle_per_s,
    )
    top = cmd_per_dial
    section.notes += [
        f"How: `batchdial worker --processes P --threads {THREADS}` with "
        "`BATCHDIAL_SIMULATED_CALL_SECONDS=0`, one job of cap "
        f"{THROUGHPUT_CAP} sized for about {target_s:g} s (the first run guesses, later runs "
        "size from the previous rate); dials/s = dial.started events / (last dial.finished - "
        "first dial.started). Baseline in the same run, after each batchdial run: the same "
        "number of messages pre-filled on a no-op dramatiq actor, drained by P fresh worker "
        f"processes x {THREADS} threads (started and ready before they are told to go); "
        "msgs/s = messages / (last end - first start) inside the actor.",
        "Redis commands per dial (1x8, raw INFO commandstats delta / dials, "
        "other tenants included): "
        + ", ".join(f"{name} {n:.1f}" for name, n in top.most_common(12)),
        "",
        *profile_lines,
    ]
    section.holdback = _throughput_holdback(
        ctx, data, top, trips["_round_trips"] / trip_dials, profile_shares
    )
    return section


def _throughput_holdback(
    ctx: Ctx,
    data: dict[int, dict[str, list[float]]],
    commands: Counter[str],
    round_trips: float,
    shares: dict[str, float],
) -> list[str]:
    import importlib.util  # noqa: PLC0415

    d1, d2 = data[1], data[2]
    lines = []
    if median(d1["rate"]) < THROUGHPUT_TARGET * median(d1["noop"]):
        hiredis = importlib.util.find_spec("hiredis") is not None
        lines += [
            f"- Worker CPU: {median(d1['cpu_per_dial_ms']):.2f} ms per dial against "
            f"{median(d1['noop_cpu_per_msg_ms']):.2f} ms per no-op message, and one worker "
            f"process kept {median(d1['cores']):.2f} cores busy: the dial path is CPU-bound "
            "under the GIL. Round trips are not the problem (exactly "
            f"{round_trips:.2f} requests per dial, nearly all EVALSHA): the Python around "
            "them is.",
            "- What a dial does on top of what the no-op measures: two Lua scripts "
            "(`claim.lua`, `finish_dial.lua`), each sent with 17 KEYS or more and about 11 "
            "ARGV, packed by redis-py's pure-Python RESP serializer and answered through its "
            f"Python parser ({'hiredis is installed' if hiredis else 'hiredis is not installed'}"
            "); two INFO log lines (`dial_started`, `dial_finished`) through structlog, with "
            "phone masking, into a locked stderr handler; a dial id from `secrets`, JSON of "
            "the row, Prometheus counters.",
        ]
        if shares:
            lines.append(
                "- Profile of a worker (py-spy, GIL holder): Redis script calls "
                f"{shares['scripts']:.0%} of the samples (RESP packing alone "
                f"{shares['pack']:.0%}, reply parsing {shares['parse']:.0%}), structlog "
                f"logging {shares['logging']:.0%}, dramatiq's broker (fetch, ack) "
                f"{shares['broker']:.0%}; see the tables in section 2."
            )
        else:
            lines.append("- (Run with `--profile` and py-spy installed for a worker profile.)")
        lines.append(
            f"- Redis side: {median(d1['calls_net']):.0f} commands per dial run inside the "
            f"scripts (no-op: {median(d1['noop_calls']):.0f} per message), "
            f"{median(d1['redis_cpu_per_dial_ms']):.2f} ms of Redis CPU per dial; top: "
            + ", ".join(f"{n} {v:.1f}" for n, v in commands.most_common(6))
            + "."
        )
    scale = median([b / a for a, b in zip(d1["rate"], d2["rate"], strict=True)])
    noop_scale = median([b / a for a, b in zip(d1["noop"], d2["noop"], strict=True)])
    if scale < SCALE_TARGET:
        redis_cores = median(d2["redis_cpu_per_dial_ms"]) * median(d2["rate"]) / 1000
        per_dial_ms = median(d1["cpu_per_dial_ms"]) + median(d1["redis_cpu_per_dial_ms"])
        needed = SCALE_TARGET * median(d1["rate"]) * per_dial_ms / 1000
        lines.append(
            f"- Scale-out {scale:.2f}x: with 2 processes the workers kept "
            f"{median(d2['cores']):.2f} cores busy (1 process: {median(d1['cores']):.2f}), "
            f"Redis about {redis_cores:.2f} (its CPU over the run, all tenants), on a "
            f"{_nproc()}-core machine that also runs this benchmark and other tenants. "
            f"A dial costs {median(d1['cpu_per_dial_ms']):.2f} ms of worker CPU plus "
            f"{median(d1['redis_cpu_per_dial_ms']):.2f} ms of Redis CPU, so "
            f"{SCALE_TARGET:g} x {median(d1['rate']):,.0f} dials/s needs about "
            f"{needed:.1f} cores for batchdial alone. The no-op baseline, at "
            f"{median(d1['noop_cpu_per_msg_ms']):.2f} ms per message, scales "
            f"{noop_scale:.2f}x on the same machine: one no-op process used only "
            f"{median(d1['noop_cpu_per_msg_ms']) * median(d1['noop']) / 1000:.2f} cores, "
            f"while one batchdial process already keeps {median(d1['cores']):.2f} busy, so "
            "a second one can only add what the machine has left after Redis and the "
            f"harness. Reaching {SCALE_TARGET:g}x here needs more cores than this machine "
            "has, or a dial cheap enough that one process no longer fills a core."
        )
    return lines


def _nproc() -> int:
    import os  # noqa: PLC0415

    return os.cpu_count() or 0


# -- 5. latency -----------------------------------------------------------------------
def _schedule_at(boundary: datetime) -> dict[str, Any]:
    return {
        "days": [
            {
                "dayOfWeek": boundary.isoweekday() % 7,
                "timeSlots": [{"startTime": boundary.strftime("%H:%M"), "endTime": "24:00"}],
            }
        ],
        "timezone": "UTC",
    }


def pause_test(ctx: Ctx, s: Scratch, cycles: int) -> dict[str, Any]:
    """Resume, dial a while, pause; ``cycles`` times on one busy job. Returns, per pause,
    the dials started after the job.paused event and the gaps."""
    cap = 20
    ws = s.workspace(cap)
    ref = s.create_job(cycles * 600, cap, ws=ws)
    acks: list[float] = []
    try:
        for _ in range(cycles):
            s.start(ref)
            time.sleep(random.uniform(0.6, 1.0))
            s.producer.set_paused(ref.ws, ref.job, True)
            acks.append(time.time() * 1000)
            time.sleep(0.4)
    finally:
        s.stop_job(ref, settle_s=0.5)
    return analyse_pauses(s.events(ref), acks)


def analyse_pauses(
    events: list[tuple[int, str, dict[str, Any]]], acks: list[float]
) -> dict[str, Any]:
    """Late dials after each job.paused event (until the next resume/cancel)."""
    late = 0
    gaps_event: list[float] = []
    gaps_ack: list[float] = []
    paused_at: float | None = None
    last_start_while_paused: float | None = None
    last_start_before: float | None = None
    pauses = 0

    def close() -> None:
        if paused_at is None:
            return
        last = last_start_while_paused if last_start_while_paused is not None else last_start_before
        if last_start_while_paused is not None:
            gaps_event.append(last_start_while_paused - paused_at)
        if last is not None and pauses - 1 < len(acks):
            gaps_ack.append(last - acks[pauses - 1])

    for ms, kind, _ in events:
        if kind == "job.paused":
            close()
            pauses += 1
            paused_at, last_start_while_paused = float(ms), None
        elif kind in ("job.resumed", "job.cancelled", "job.completed"):
            close()
            paused_at = None
        elif kind == "dial.started":
            if paused_at is not None:
                late += 1
                last_start_while_paused = float(ms)
            else:
                last_start_before = float(ms)
    close()
    return {"pauses": pauses, "late": late, "gaps_event": gaps_event, "gaps_ack": gaps_ack}


def bench_latency(ctx: Ctx) -> Section:
    """Figure 5: window opening -> first dial (p50/p95 over many jobs); pause -> last dial."""
    jobs_n = 20 if ctx.quick else 30
    cycles = 5 if ctx.quick else 10
    pause_need_s = cycles * 1.4 + 6
    section = Section("latency", "5. Latency: window opening, pause")
    with scratch(ctx.url) as s, batchdial_worker(s, ctx.tmp, processes=1, call_s=0.05):
        now = datetime.now(UTC)
        boundary = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
        if (boundary - now).total_seconds() < 12:
            boundary += timedelta(minutes=1)
        ws = s.workspace(jobs_n)
        refs: list[JobRef] = []
        for _ in range(jobs_n):
            ref = s.create_job(3, 1, ws=ws, schedule=_schedule_at(boundary))
            s.start(ref)
            refs.append(ref)
        if datetime.now(UTC) >= boundary - timedelta(seconds=1):
            raise BenchError("the jobs were not all started before the window opened")
        ctx.log(f"latency: {jobs_n} jobs wait for {boundary:%H:%M:%S} UTC")
        pauses = None
        if (boundary - datetime.now(UTC)).total_seconds() > pause_need_s + 5:
            ctx.log(f"latency: pause test ({cycles} pauses) while waiting")
            pauses = pause_test(ctx, s, cycles)
        open_at = boundary.timestamp() * 1000

        def all_dialed() -> bool:
            return all(any(kind == "dial.started" for _, kind, _ in s.events(r)) for r in refs)

        time.sleep(max(0.0, boundary.timestamp() - time.time() + 1.0))
        wait_until(all_dialed, 15, 0.5)
        latencies = []
        for ref in refs:
            starts = [ms for ms, kind, _ in s.events(ref) if kind == "dial.started"]
            if starts:
                latencies.append((starts[0] - open_at) / 1000)
        if pauses is None:
            ctx.log(f"latency: pause test ({cycles} pauses)")
            pauses = pause_test(ctx, s, cycles)
    missing = jobs_n - len(latencies)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    section.figures += [
        Figure(
            label="window opening -> first dial, p50",
            value=p50,
            unit="s",
            digits=3,
            command=ctx.command("latency"),
            note=f"{len(latencies)} jobs" + (f", {missing} never dialed" if missing else ""),
        ),
        Figure(
            label="window opening -> first dial, p95",
            value=p95,
            unit="s",
            digits=3,
            target="<= 1 s",
            met=p95 <= 1.0 and not missing,
            command=ctx.command("latency"),
            note=f"max {max(latencies):.3f} s, min {min(latencies):.3f} s"
            if latencies
            else "no dial",
        ),
        Figure(
            label="dials started after job.paused",
            value=float(pauses["late"]),
            unit="dials",
            digits=0,
            target="0",
            met=pauses["late"] == 0,
            command=ctx.command("latency"),
            note=(
                f"over {pauses['pauses']} pauses of a cap-20 job of 0.05 s calls; "
                + (
                    f"max gap job.paused -> last late start {max(pauses['gaps_event']):.0f} ms; "
                    if pauses["gaps_event"]
                    else ""
                )
                + "last dial start relative to the pause call returning: max "
                f"{max(pauses['gaps_ack'], default=float('nan')):+.0f} ms, median "
                f"{median(pauses['gaps_ack']):+.0f} ms (negative: before it returned)"
            ),
        ),
    ]
    section.notes += [
        f"How: one `batchdial worker --processes 1 --threads {THREADS}` (calls of 0.05 s); "
        f"{jobs_n} jobs of 3 rows, cap 1, whose only slot starts at the next UTC minute "
        "boundary, all created and started before it; latency = the job's first "
        "`dial.started` (Redis time) - the boundary. Latencies (s): "
        + ", ".join(f"{x:.3f}" for x in sorted(latencies)),
        f"Pause: one job of cap 20 dialing 0.05 s calls (about 400 dials/s asked), resumed "
        f"and paused {cycles} times at a random phase through the producer API; a late dial is "
        "a `dial.started` after the `job.paused` event in the job's log (before the next "
        "resume).",
    ]
    return section


def main() -> None:
    """``python -m bench.engine``: the engine benchmarks of the suite."""
    from bench.suite import main as suite_main  # noqa: PLC0415

    raise SystemExit(suite_main(default_only="utilisation,throughput,latency"))


if __name__ == "__main__":
    main()
