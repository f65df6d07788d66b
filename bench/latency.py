"""Benchmark 5, latency: window opening -> first dial (p50/p95 over many jobs), and
dials started after a pause.

batchdial runs in a real ``batchdial worker`` process (simulated dialer, calls of
0.05 s, every call ``completed``, metrics off); jobs are created, started and paused
in this process through the Python producer API.

Reproduce: ``.venv/bin/python -m bench --only latency``
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import THREADS, BenchError, Ctx, Figure, Section, median, percentile, wait_until
from bench.procs import batchdial_worker
from bench.scratch import JobRef, Scratch, scratch


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
