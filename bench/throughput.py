"""Benchmarks 2 and 6: dial throughput of zero-length calls with 1x8 and 2x8 worker
processes x threads (and so the scale-out), Redis commands and round trips per dial.

batchdial runs in real ``batchdial worker`` processes (simulated dialer, every call
``completed``, metrics off); the baseline, measured in the same run after each
batchdial run, is a dramatiq no-op actor drained by the same processes x threads
(see ``bench/dramatiq_baseline.py``).

Reproduce: ``.venv/bin/python -m bench --only throughput`` (``--profile`` adds a py-spy
profile of a worker when py-spy is installed)
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from bench import dramatiq_baseline as baseline
from bench.common import THREADS, BenchError, Ctx, Figure, Section, median, runs_text, wait_until
from bench.procs import WorkerProcs, batchdial_worker, commandstats, redis_cpu
from bench.profiling import load_pyspy, py_spy, share, summarize_pyspy
from bench.round_trips import round_trips_in_process
from bench.scratch import Scratch, scratch

THROUGHPUT_TARGET = 0.6
SCALE_TARGET = 1.7
THROUGHPUT_CAP = 100


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
    s: Scratch, w: WorkerProcs, rows: int, quiet_rate: float, target_s: float
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
    cmd_per_dial: dict[str, float] = defaultdict(float)
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
    trips, trip_dials, idle_per_s = round_trips_in_process(
        ctx, 1000 if ctx.quick else 2000, THROUGHPUT_CAP
    )

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
        + ", ".join(f"{name} {n:.1f}" for name, n in _most_common(top, 12)),
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
    commands: dict[str, float],
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
            + ", ".join(f"{n} {v:.1f}" for n, v in _most_common(commands, 6))
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


def _most_common(values: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` largest values, largest first (ties in insertion order, as Counter's)."""
    return sorted(values.items(), key=lambda item: item[1], reverse=True)[:n]


def _nproc() -> int:
    import os  # noqa: PLC0415

    return os.cpu_count() or 0
