"""Benchmark 8: pacing accuracy. ``PATCH /api/workspace {"maxDialsPerSecond": N}`` at
N = 1, 10, 100; every ``dial.started`` of the job is replayed (its stream id is the
claim's instant, Redis time): the most starts in any sliding one-second window (must be
<= N) and the sustained rate over the span of the starts / N (>= 0.95; the limit
spaces starts (1 s + 20 ms) / N apart by design, so ~0.98 N is the ceiling: see
``domain/pacing.py``).

Real ``batchdial api`` and ``batchdial worker --processes 2 --threads 8`` (two
processes claim against the one limit), the simulated dialer with zero-length calls.

Reproduce: ``.venv/bin/python -m bench --only pacing``
"""

from __future__ import annotations

from collections import defaultdict

from bench.common import THREADS, Ctx, Figure, Section, median
from bench.scratch import JobRef, scratch
from bench.stack import Workspace, api, env_of, workers
from domain.pacing import max_in_window, sustained_rate

RATES = (1, 10, 100)
RATE_TARGET = 0.95
PROCESSES = 2


def _rows(ctx: Ctx, n: int) -> int:
    seconds = 5 if ctx.quick else 8
    return n * seconds + 1


def bench_pacing(ctx: Ctx) -> Section:
    """Figure 8: max starts in any one-second window and sustained rate / N."""
    section = Section("pacing", "8. Pacing accuracy")
    data: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with scratch(ctx.url) as s:
        env = env_of(s, BATCHDIAL_SIMULATED_CALL_SECONDS="0")
        with (
            api(env, ctx.tmp / "pacing-api.log") as base,
            workers(s, env, ctx.tmp / "pacing-w.log", PROCESSES),
        ):
            w = Workspace(env, base, 200)
            try:
                for run in range(ctx.runs):
                    for n in RATES:
                        w.patch(maxDialsPerSecond=n)
                        rows = _rows(ctx, n)
                        job_id = w.start_job(rows, cap=min(200, max(5, n)))
                        ok = _wait_complete(w, job_id, rows / n * 3 + 20)
                        starts = [
                            ms
                            for ms, kind, _ in s.events(JobRef(w.ws["workspaceId"], job_id))
                            if kind == "dial.started"
                        ]
                        if not ok:
                            w.cancel(job_id)
                        peak, rate = float(max_in_window(starts)), sustained_rate(starts)
                        d = data[n]
                        d["peak"].append(peak)
                        d["ratio"].append(rate / n)
                        d["starts"].append(len(starts))
                        ctx.log(
                            f"pacing N={n}, run {run + 1}: {len(starts)} starts, peak "
                            f"{peak:.0f}/s, sustained {rate / n:.3f} N"
                        )
            finally:
                w.patch(maxDialsPerSecond=None)
                w.close()
    for n in RATES:
        d = data[n]
        peak = max(d["peak"])
        section.figures.append(
            Figure(
                label=f"pacing N={n}: most starts in any one-second window",
                value=peak,
                unit="starts",
                digits=0,
                target=f"<= {n}",
                met=peak <= n,
                runs=d["peak"],
                command=ctx.command("pacing"),
                note=f"the worst of {len(d['peak'])} run(s), {median(d['starts']):.0f} starts each",
            )
        )
        ratio = median(d["ratio"])
        section.figures.append(
            Figure(
                label=f"pacing N={n}: sustained rate / N",
                value=ratio,
                target=f">= {RATE_TARGET}",
                met=ratio >= RATE_TARGET,
                baseline_label="design rate 1 s / (1 s + 20 ms)",
                baseline=1000 / 1020,
                ratio=ratio / (1000 / 1020),
                runs=d["ratio"],
                command=ctx.command("pacing"),
                note="(starts - 1) / (last start - first start), over N",
            )
        )
    section.notes += [
        "How: one workspace (limit 200, pool of 3 numbers), `PATCH /api/workspace "
        '{"maxDialsPerSecond": N}` before each job; one job of N x '
        f"{5 if ctx.quick else 8} s + 1 rows, cap max(5, N) (at most 200), zero-length "
        f"simulated calls; `batchdial worker --processes {PROCESSES} --threads {THREADS}`. "
        "Starts = the `dial.started` stream ids (ms of Redis time at the claim). Windows "
        "are half-open `[t, t + 1 s)`, sliding over every start (`domain.pacing.max_in_window`)."
    ]
    return section


def _wait_complete(w: Workspace, job_id: str, timeout_s: float) -> bool:
    import time  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if w.status(job_id) == "COMPLETE":
            return True
        time.sleep(0.2)
    return False
