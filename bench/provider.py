"""Benchmark 7: the provider's side. Utilisation of the cap and slot refill, as a
stand-in provider behind the ``http`` dialer counts them.

A stand-in provider (``tests/support/standin.py``) on loopback, in one of two styles:
``callback`` accepts each dial at once and reports the end by the signed status
callback to the real ``batchdial api`` (how real carriers work); ``hold`` answers the
dial request only when the call ends. Real ``batchdial api`` and ``batchdial worker
--processes P --threads 8`` processes; one job of cap C in a workspace of limit C.

- utilisation = time-weighted mean of calls open AT THE STAND-IN / C, from the first
  dial request to the last one (while rows remain);
- refill = for each call's end (in order), the wait until the next dial request beyond
  the first C arrived at the stand-in: how long the freed slot stayed empty.

Baseline in the same run: the same job on the simulated dialer (``batchdial worker
--processes 1``, calls of D, no provider), replayed from the event log the same way
(``dial.finished`` -> next ``dial.started``): what the engine does without the
provider's paths.

Reproduce: ``.venv/bin/python -m bench --only provider`` (``--quick``: one run).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import product
from typing import Literal

from bench.common import (
    THREADS,
    BenchError,
    Ctx,
    Figure,
    Section,
    marks_of,
    median,
    percentile,
    utilisation,
)
from bench.procs import batchdial_worker
from bench.provider_standin import SENDERS, BenchStandIn, refills_ms
from bench.scratch import Scratch, scratch
from bench.stack import Workspace, api, env_of, workers
from tests.support.provider import SECRET
from tests.support.standin import serve

Style = Literal["callback", "hold"]
STYLES: tuple[Style, ...] = ("callback", "hold")
CAPS = (20, 200)
CALLS_S = (0.25, 1.0)
PROCESSES = (1, 2)
UTIL_TARGET = 0.97
REFILL_TARGET_MS = 20.0


#: Calls each slot makes at least: the issue's own measurement is 200 calls of 1 s at
#: cap 20. Fewer waves weigh the first fill more (at cap 200 it is a tenth of a second
#: or more: every call must be claimed and placed at once).
CALLS_PER_SLOT = 10
#: Seconds of calls a job lasts at least (short calls: more waves).
WORK_S = 5.0


def _rows(ctx: Ctx, cap: int, call_s: float) -> int:
    if ctx.quick:
        return max(cap * 3, round(cap * 3.0 / call_s))
    return cap * max(CALLS_PER_SLOT, round(WORK_S / call_s))


def _wait_done(w: Workspace, job_id: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if w.status(job_id) in ("COMPLETE", "CANCELLED"):
            return True
        time.sleep(0.1)
    return False


def _provider_run(
    ctx: Ctx, w: Workspace, stand_in: BenchStandIn, style: Style, *, cap: int, call_s: float
) -> dict[str, float]:
    rows = _rows(ctx, cap, call_s)
    stand_in.reset(style, call_s)
    job_id = w.start_job(rows, cap)
    ideal = rows / cap * call_s
    if not _wait_done(w, job_id, ideal * 4 + 20):
        w.cancel(job_id)
        _wait_done(w, job_id, call_s + 10)
    time.sleep(0.2)  # the last callbacks are in flight
    if len(stand_in.opened) < cap:
        raise BenchError(
            f"only {len(stand_in.opened)} of {rows} rows dialed; callback errors "
            f"{stand_in.errors[:3]}"
        )
    # A job that did not finish in time (cancelled) still counts, over what it dialed:
    # "dialed" says how much (a stall is a figure, not a failure of the benchmark).
    return stand_in.figures(cap) | {
        "rows": rows,
        "errors": len(stand_in.errors),
        "dialed": len(stand_in.opened) / rows,
    }


def _simulated_run(ctx: Ctx, s: Scratch, cap: int, call_s: float) -> dict[str, float]:
    rows = _rows(ctx, cap, call_s)
    ref = s.create_job(rows, cap)
    s.start(ref)
    s.wait_status(ref, {"COMPLETE"}, rows / cap * call_s * 4 + 20)
    s.stop_job(ref, settle_s=0.0)
    events = s.events(ref)
    util, peak, _ = utilisation(marks_of(events), cap)
    starts = [ms / 1000 for ms, kind, _ in events if kind == "dial.started"]
    ends = [ms / 1000 for ms, kind, _ in events if kind == "dial.finished"]
    refills = refills_ms(ends, starts, cap)
    return {"util": util, "peak": peak, "p50": percentile(refills, 50)}


@contextmanager
def _provider_stack(ctx: Ctx, s: Scratch, dial_url: str) -> Iterator[tuple[dict[str, str], str]]:
    env = env_of(
        s,
        BATCHDIAL_DIALER="http",
        BATCHDIAL_DIALER_URL=dial_url,
        BATCHDIAL_DIALER_SECRET=SECRET,
    )
    with api(env, ctx.tmp / "provider-api.log") as base:
        yield env, base


def bench_provider(ctx: Ctx) -> Section:
    """Figure 7: utilisation and refill at the stand-in provider, both styles."""
    section = Section("provider", "7. The provider's side: utilisation and slot refill")
    runs = ctx.runs if ctx.runs_given else min(ctx.runs, 2)
    configs = list(product(STYLES, CAPS, CALLS_S))
    data: dict[tuple[int, Style, int, float], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    base_data: dict[tuple[int, float], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    rows_of: dict[tuple[int, float], int] = {}
    stand_in = BenchStandIn()
    with (
        scratch(ctx.url) as s,
        serve(stand_in) as dial_url,
        _provider_stack(ctx, s, dial_url) as (
            env,
            base,
        ),
    ):
        stand_in.api_base = base
        stand_in.start_senders()
        w = Workspace(env, base, max(CAPS))
        try:
            for run in range(runs):
                for processes in PROCESSES:
                    log = ctx.tmp / f"provider-w{processes}-{run}.log"
                    with workers(s, env, log, processes):
                        for style, cap, call_s in configs:
                            r = _provider_run(ctx, w, stand_in, style, cap=cap, call_s=call_s)
                            rows_of[(cap, call_s)] = int(r["rows"])
                            d = data[(processes, style, cap, call_s)]
                            for k, v in r.items():
                                d[k].append(v)
                            ctx.log(
                                f"provider {processes}x{THREADS} {style:8} cap {cap:3} "
                                f"{call_s:g} s, run {run + 1}: util {r['util']:.3f} (peak "
                                f"{r['peak']:.0f}), refill p50 {r['p50']:.1f} ms p90 "
                                f"{r['p90']:.1f} ms, busiest worker {r['top_share']:.0%}"
                            )
                # Baseline: the simulated dialer, 1 process, same caps and calls.
                for call_s in CALLS_S:
                    with batchdial_worker(
                        s, ctx.tmp, processes=1, call_s=call_s, log_level="WARNING"
                    ):
                        for cap in CAPS:
                            b = _simulated_run(ctx, s, cap, call_s)
                            for k, v in b.items():
                                base_data[(cap, call_s)][k].append(v)
                            ctx.log(
                                f"provider baseline simulated cap {cap} {call_s:g} s, run "
                                f"{run + 1}: util {b['util']:.3f}, refill p50 {b['p50']:.1f} ms"
                            )
        finally:
            w.close()
            stand_in.stop_senders()
    section.figures += _figures(ctx, data, base_data, rows_of)
    section.notes += _notes(ctx, runs)
    section.holdback = _holdback(data)
    return section


def _figures(
    ctx: Ctx,
    data: dict[tuple[int, Style, int, float], dict[str, list[float]]],
    base_data: dict[tuple[int, float], dict[str, list[float]]],
    rows_of: dict[tuple[int, float], int],
) -> list[Figure]:
    figures: list[Figure] = []
    for (processes, style, cap, call_s), d in sorted(data.items()):
        b = base_data[(cap, call_s)]
        util, base_util = median(d["util"]), median(b["util"])
        p50, p90 = median(d["p50"]), median(d["p90"])
        where = f"{style}, {processes}x{THREADS}, cap {cap}, {call_s:g} s"
        figures.append(
            Figure(
                label=f"utilisation at the provider, {where}",
                value=util,
                target=f">= {UTIL_TARGET}" if call_s >= 1 else "",
                met=util >= UTIL_TARGET if call_s >= 1 else None,
                baseline_label="simulated dialer (event log)",
                baseline=base_util,
                ratio=util / base_util if base_util else None,
                runs=d["util"],
                command=ctx.command("provider"),
                note=(
                    f"{rows_of[(cap, call_s)]:,} rows; peak {max(d['peak']):.0f}/{cap}; "
                    f"{median(d['n']):,.0f} calls over {median(d['span']):.1f} s; first "
                    f"fill (first to {cap}-th call open) {median(d['fill']) * 1000:.0f} ms; "
                    f"busiest worker process placed {median(d['top_share']):.0%} of the calls "
                    f"({max(d['workers']):.0f} process(es) placed any); callbacks the API "
                    f"failed: {sum(d['errors']):.0f}; share of the rows dialed before the time "
                    f"limit: {min(d['dialed']):.2f} (worst run)"
                ),
            )
        )
        figures.append(
            Figure(
                label=f"  refill p50, {where}",
                value=p50,
                unit="ms",
                digits=1,
                target=f"<= {REFILL_TARGET_MS:g} ms",
                met=p50 <= REFILL_TARGET_MS,
                baseline_label="simulated dialer (event log)",
                baseline=median(b["p50"]),
                baseline_unit="ms",
                runs=d["p50"],
                command=ctx.command("provider"),
                note=f"p90 {p90:.1f} ms (runs {', '.join(f'{v:.1f}' for v in d['p90'])})",
            )
        )
    return figures


def _notes(ctx: Ctx, runs: int) -> list[str]:
    rows = (
        "C x 3 s / D (at least 3 C)"
        if ctx.quick
        else f"C x {CALLS_PER_SLOT} or C x {WORK_S:g} s / D, whichever is more ({CALLS_PER_SLOT} "
        "calls per slot at least: the issue's own table is 200 calls of 1 s at cap 20)"
    )
    return [
        "How: a stand-in provider (`tests/support/standin.py`, a threading HTTP server in "
        "the benchmark's process) behind the `http` dialer; one real `batchdial api` (it "
        "takes the signed status callbacks) and `batchdial worker --processes P --threads "
        f"{THREADS}` (fresh for each P and run), Redis on loopback; one workspace of limit "
        "200 with a pool of 3 numbers (limit 200 each), one job of cap C at a time. Rows: "
        f"{rows}. Every configuration of the full cross "
        "product (2 styles x caps 20, 200 x calls 0.25 s, 1 s x 1, 2 processes), "
        f"{runs} run(s) each (median).",
        "Utilisation is measured at the stand-in: a call opens when its first dial "
        "request arrives (retries of an idempotency key do not count) and closes when the "
        "stand-in ends it (`hold`: when it answers; `callback`: when its timer fires; one of "
        f"{SENDERS} sender threads with kept-alive connections then sends the callback). "
        "The span runs from the first dial request to the "
        "last, so it includes the first fill of the cap. Refill: the n-th call end paired "
        "with the (C + n)-th call start, sorted; p50 and p90 over the job.",
        "Target for utilisation only with 1 s calls (issue 14); the 0.25 s rows are "
        "reported for the record. Baseline: the same job on the simulated dialer "
        "(`BATCHDIAL_SIMULATED_CALL_SECONDS=D`, 1 process), utilisation and refill "
        "replayed from its event log: the engine without the provider's HTTP paths.",
    ]


def _holdback(data: dict[tuple[int, Style, int, float], dict[str, list[float]]]) -> list[str]:
    lines = []
    for (processes, style, cap, call_s), d in sorted(data.items()):
        util, p50 = median(d["util"]), median(d["p50"])
        missed = []
        if call_s >= 1 and util < UTIL_TARGET:
            missed.append(f"utilisation {util:.3f}")
        if p50 > REFILL_TARGET_MS:
            missed.append(f"refill p50 {p50:.1f} ms")
        if missed:
            lines.append(
                f"- {style}, {processes}x{THREADS}, cap {cap}, {call_s:g} s calls: "
                f"{', '.join(missed)} (peak {max(d['peak']):.0f}/{cap}, "
                f"{cap / call_s:,.0f} calls/s asked)."
            )
    return lines
