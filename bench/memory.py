"""Memory benchmark: Redis bytes per queued row, and worker RSS against job size.

- Redis: a 100k-row job without inputs, created through the producer API; MEMORY
  USAGE (exact, SAMPLES 0) of each of the job's keys, summed, per row; the
  ``used_memory`` delta too (noisy: the Redis is shared).
- Worker RSS: a real ``batchdial worker`` (1 process x 8 threads, calls of 0.2 s,
  cap 50) dialing a 10k-row job, then a fresh one dialing a 1M-row job (created
  through ``Producer`` with ``Limits(max_rows=1_000_000)``); VmRSS of the worker
  process sampled from /proc while it dials, not to completion. Both jobs are
  cancelled and their keys deleted afterwards.

Reproduce: .venv/bin/python -m bench --only memory
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from bench.common import Ctx, Figure, Section, median
from bench.procs import batchdial_worker, rss_kb
from bench.scratch import JobRef, Scratch, scratch

BYTES_TARGET = 200
RSS_TOLERANCE = 0.10
CAP = 50
CALL_S = 0.2


def _used_memory(s: Scratch) -> int:
    return int(s.client.info("memory")["used_memory"])


def redis_bytes(ctx: Ctx, s: Scratch, rows: int) -> dict[str, Any]:
    """Bytes per row of a job of ``rows`` rows without inputs."""
    before = _used_memory(s)
    t0 = time.perf_counter()
    ref = s.create_job(rows, 10)
    create_s = time.perf_counter() - t0
    after = _used_memory(s)
    keys = s.job_key_bytes(ref)
    stored = cast(list[str], s.client.hvals(s.keys.rows(ref.ws, ref.job)))
    payload = sum(len(v) for v in stored) / rows
    s.client.unlink(*s.keys.job_keys(ref.ws, ref.job))
    return {
        "per_row": sum(keys.values()) / rows,
        "keys": keys,
        "used_memory_per_row": (after - before) / rows,
        "payload": payload,
        "create_s": create_s,
    }


def sample_rss(
    ctx: Ctx, s: Scratch, ref: JobRef, seconds: float
) -> tuple[int, list[int], int, float]:
    """Start a fresh worker, sample its process's RSS while it dials ``ref`` for
    ``seconds``; returns idle RSS (kB), samples (kB), dials started, dials/s."""
    with batchdial_worker(s, ctx.tmp, processes=1, threads=8, call_s=CALL_S) as w:
        pid = w.children[0]
        time.sleep(1.0)
        idle = rss_kb(pid) or 0
        s.start(ref)
        samples: list[int] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.25)
            value = rss_kb(pid)
            if value:
                samples.append(value)
        s.stop_job(ref, settle_s=CALL_S + 0.3)
    started = sum(1 for _, kind, _ in s.events(ref) if kind == "dial.started")
    return idle, samples, started, started / seconds


def bench_memory(ctx: Ctx) -> Section:
    """Figure 4: Redis bytes per queued row; worker RSS for a 10k- vs a 1M-row job."""
    rows_mem = 20_000 if ctx.quick else 100_000
    big = 200_000 if ctx.quick else 1_000_000
    small = 10_000
    seconds = 5.0 if ctx.quick else 10.0
    section = Section("memory", "4. Memory")
    with scratch(ctx.url) as s:
        # The big job takes a minute to validate and write: build it on a thread while
        # the Redis bytes and the small job's RSS are measured (neither is timed).
        holder: dict[str, Any] = {}

        def create_big() -> None:
            t0 = time.perf_counter()
            try:
                holder["ref"] = s.create_job(big, CAP)
            except Exception as exc:  # reported below
                holder["error"] = exc
            holder["seconds"] = time.perf_counter() - t0

        ctx.log(f"memory: creating a {big:,}-row job on a thread")
        creator = threading.Thread(target=create_big, daemon=True)
        creator.start()
        try:
            ctx.log(f"memory: Redis bytes of a {rows_mem:,}-row job")
            mem = redis_bytes(ctx, s, rows_mem)
            ctx.log(f"memory: worker RSS, {small:,}-row job")
            small_ref = s.create_job(small, CAP)
            idle_s, rss_s, n_s, rate_s = sample_rss(ctx, s, small_ref, seconds)
            creator.join(timeout=600)
            if "ref" not in holder:
                raise RuntimeError(f"the {big:,}-row job was not created: {holder.get('error')}")
            big_ref = cast(JobRef, holder["ref"])
            big_keys = s.job_key_bytes(big_ref)
            ctx.log(f"memory: worker RSS, {big:,}-row job (created in {holder['seconds']:.0f} s)")
            idle_b, rss_b, n_b, rate_b = sample_rss(ctx, s, big_ref, seconds)
        finally:
            creator.join(timeout=600)
            if "ref" in holder:  # cancel (one atomic step), then the keys go with the namespace
                s.stop_job(holder["ref"])
    per_row = mem["per_row"]
    section.figures.append(
        Figure(
            label=f"Redis bytes per queued row ({rows_mem // 1000}k rows, no inputs)",
            value=per_row,
            unit="B",
            digits=0,
            target=f"<= {BYTES_TARGET} B",
            met=per_row <= BYTES_TARGET,
            baseline_label="stored row payload",
            baseline=mem["payload"],
            ratio=per_row / mem["payload"],
            command=ctx.command("memory"),
            note=(
                "MEMORY USAGE SAMPLES 0 of the job's keys: "
                + ", ".join(f"{k} {v / rows_mem:.0f} B/row" for k, v in mem["keys"].items())
                + f"; used_memory delta {mem['used_memory_per_row']:.0f} B/row (shared Redis); "
                f"at {big:,} rows: {sum(big_keys.values()) / big:.0f} B/row"
            ),
        )
    )
    peak_s, peak_b = max(rss_s), max(rss_b)
    ratio = peak_b / peak_s
    section.figures.append(
        Figure(
            label=f"worker RSS, {big:,}- vs {small:,}-row job (peak)",
            value=peak_b / 1024,
            unit="MiB",
            digits=1,
            target=f"within {RSS_TOLERANCE:.0%}",
            met=abs(ratio - 1) <= RSS_TOLERANCE,
            baseline_label=f"{small:,}-row job",
            baseline=peak_s / 1024,
            ratio=ratio,
            command=ctx.command("memory"),
            note=(
                f"median {median([float(x) for x in rss_b]) / 1024:.1f} vs "
                f"{median([float(x) for x in rss_s]) / 1024:.1f} MiB; idle before the job "
                f"{idle_b / 1024:.1f} vs {idle_s / 1024:.1f} MiB; {n_b:,} vs {n_s:,} dials "
                f"started in the {seconds:g} s sampled ({rate_b:.0f} vs {rate_s:.0f}/s)"
            ),
        )
    )
    section.notes += [
        f"How: the {big:,}-row job was created through `Producer(..., "
        f"Limits(max_rows=1_000_000)).create_job` in {holder.get('seconds', 0):.0f} s "
        f"({big / holder.get('seconds', 1):,.0f} rows/s, while the other measurements ran); "
        f"RSS = VmRSS of the worker process (the supervisor's child, from /proc), sampled "
        f"every 0.25 s for {seconds:g} s of dialing (cap {CAP}, {CALL_S} s calls), a fresh "
        "`batchdial worker --processes 1 --threads 8` for each job.",
        f"Redis: a {rows_mem:,}-row job stores each row as a hash field (`rows`: index -> "
        f"JSON, {mem['payload']:.0f} B of payload per row here) and a sorted-set member "
        "(`queue`: index -> order); the figure is everything the job's keys hold, over rows.",
    ]
    return section
