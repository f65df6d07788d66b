"""Benchmark 9: webhooks (issue 16). Deliveries per second of one worker process to a
local receiver, and what the outbox costs dialing: zero-length dials with 0 vs 3
endpoints subscribed to ``*`` (target: at most 15 % slower).

- **Deliveries/s.** ``ENDPOINTS`` endpoints (``*``) on one receiver; the workspace's
  outbox pre-filled with events (the entries ``emit`` writes), then one fresh
  ``batchdial worker`` (1 x 8) delivers them: deliveries / (last - first request at
  the receiver). Baseline in the same run, right after: the same number of POSTs from
  one process with plain httpx, ``ENDPOINTS`` at a time, to the same receiver (no
  Redis, no signing: the ceiling of the loop and the receiver).
- **Outbox cost.** Per run, two jobs of zero-length dials alternate, each with fresh
  workers (1 x 8, cap 100): in a workspace with no endpoint, then in one with 3
  endpoints taking every event (delivered by the same workers while they dial).
  dials/s as bench 2 measures it; the figure is the median of the per-run ratios.

The receiver is a separate process (:mod:`bench.webhook_receiver`): an asyncio HTTP/1.1
server that answers 204 and counts, so that it takes nothing from the GIL of this
process or the workers'.

Reproduce: ``.venv/bin/python -m bench --only webhooks``
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict

import httpx

from bench.common import THREADS, BenchError, Ctx, Figure, Section, median, runs_text, wait_until
from bench.procs import batchdial_worker
from bench.scratch import Scratch, scratch
from bench.webhook_receiver import receiver
from producer.service import Producer

OUTBOX_TARGET = 0.85
ENDPOINTS = 10
CAP = 100
#: What the workers need to send to the loopback receiver.
LOOPBACK_ENV = {"BATCHDIAL_WEBHOOK_ALLOW_PRIVATE": "true"}


def _stats(base: str, *, reset: bool = False) -> dict[str, float]:
    """What the receiver counted: requests ``n``, the ``first`` and ``last`` (unix s)."""
    answer: dict[str, float] = httpx.get(
        f"{base}/{'reset' if reset else 'stats'}", timeout=10
    ).json()
    return answer


# -- deliveries per second -------------------------------------------------------------
def _endpoints(s: Scratch, ws_id: str, url: str, n: int, *, enabled: bool = True) -> None:
    hooks = Producer(s.client, s.namespace, webhook_allow_private=True).webhooks
    for i in range(n):
        hooks.create(ws_id, {"url": f"{url}/hooks/{i}", "events": ["*"], "enabled": enabled})


def _prefill(s: Scratch, ws_id: str, events: int) -> None:
    """``events`` outbox entries as ``emit`` writes them (job id, event id, body)."""
    outbox = s.keys.ws_key(ws_id, "K_WH_OUT")
    body = json.dumps({"type": "dial.finished", "jobId": "job_bench", "status": "completed"})
    with s.client.pipeline(transaction=False) as pipe:
        for i in range(events):
            pipe.xadd(outbox, {"j": "job_bench", "i": f"{1_000_000 + i}-0", "e": body})
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()


def _deliveries_run(ctx: Ctx, s: Scratch, url: str, deliveries: int) -> float:
    """One worker process delivers ``deliveries`` to the receiver; deliveries/s."""
    ws_id, _ = s.workspace(CAP)
    _stats(url, reset=True)
    _endpoints(s, ws_id, url, ENDPOINTS)
    _prefill(s, ws_id, deliveries // ENDPOINTS)
    with batchdial_worker(s, ctx.tmp, threads=THREADS, log_level="WARNING", env=LOOPBACK_ENV) as w:
        done = wait_until(lambda: _stats(url)["n"] >= deliveries, 120, 0.1)
        if not done:
            raise BenchError(f"{_stats(url)['n']} of {deliveries} delivered: {w.log_tail()}")
    stats = _stats(url)
    return deliveries / (stats["last"] - stats["first"])


async def _plain_posts(url: str, n: int, concurrency: int) -> float:
    """``n`` POSTs, ``concurrency`` at a time, from one httpx client; requests/s."""
    body = b'{"type":"dial.finished","data":{}}'
    async with httpx.AsyncClient() as client:
        todo = iter(range(n))
        t0 = time.monotonic()

        async def one() -> None:
            for i in todo:
                await client.post(f"{url}/hooks/{i % concurrency}", content=body)

        await asyncio.gather(*(one() for _ in range(concurrency)))
        return n / (time.monotonic() - t0)


# -- the outbox's cost on dialing --------------------------------------------------------
def _dial_rate(
    ctx: Ctx,
    s: Scratch,
    rows: int,
    url: str | None,
    *,
    deliver: bool = True,
    separate: bool = False,
) -> tuple[float, float, float]:
    """Zero-length dials of one job, with 3 endpoints taking ``*`` when ``url`` (disabled
    ones unless ``deliver``: the outbox is written and fanned out, nothing is sent);
    dials/s, the share of the job's deliveries the receiver had got when the job
    completed, and the seconds it took for the rest. The workers deliver the rest
    before they stop, so that no backlog is left to the next run's workers.
    ``separate``: the dialing worker consumes only ``dial,pump`` and a second process
    (``--queues webhooks``) delivers."""
    ws = s.workspace(CAP)
    if url is not None:
        _endpoints(s, ws[0], url, 3, enabled=deliver)
        _stats(url, reset=True)
    ref = s.create_job(rows, CAP, ws=ws)
    share = drain_s = 0.0
    with contextlib.ExitStack() as stack:
        dial_queues = "dial,pump" if separate else None
        w = stack.enter_context(
            batchdial_worker(
                s,
                ctx.tmp,
                threads=THREADS,
                log_level="WARNING",
                env=LOOPBACK_ENV,
                queues=dial_queues,
            )
        )
        if separate:
            stack.enter_context(
                batchdial_worker(
                    s,
                    ctx.tmp,
                    threads=THREADS,
                    log_level="WARNING",
                    env=LOOPBACK_ENV,
                    queues="webhooks",
                )
            )
        s.start(ref)
        if not s.wait_status(ref, {"COMPLETE"}, 120):
            s.stop_job(ref, settle_s=0.5)
            raise BenchError(f"the job did not complete in 120 s: {w.log_tail()}")
        events = s.events(ref)
        if url is not None and deliver:
            wanted = 3 * len(events)
            share = _stats(url)["n"] / wanted
            done_at = time.monotonic()
            if not wait_until(lambda: _stats(url)["n"] >= wanted, 120, 0.1):
                raise BenchError(f"{_stats(url)['n']} of {wanted} deliveries in 120 s")
            drain_s = time.monotonic() - done_at
    starts = [ms for ms, kind, _ in events if kind == "dial.started"]
    ends = [ms for ms, kind, _ in events if kind == "dial.finished"]
    return len(starts) / ((max(ends) - min(starts)) / 1000), share, drain_s


def bench_webhooks(ctx: Ctx) -> Section:
    """Figures 9: deliveries/s of one worker process; dial throughput with 0 vs 3 endpoints."""
    section = Section("webhooks", "9. Webhooks: deliveries/s, the outbox's cost on dialing")
    deliveries = 2_000 if ctx.quick else 6_000
    rows = 2_000 if ctx.quick else 5_000
    data: dict[str, list[float]] = defaultdict(list)
    with scratch(ctx.url) as s, receiver() as url:
        for run in range(ctx.runs):
            ctx.log(f"webhooks run {run + 1}: {deliveries} deliveries, 1x{THREADS}")
            data["delivered"].append(_deliveries_run(ctx, s, url, deliveries))
            data["plain"].append(asyncio.run(_plain_posts(url, deliveries, ENDPOINTS)))
            ctx.log(
                f"  {data['delivered'][-1]:.0f} deliveries/s; plain httpx "
                f"{data['plain'][-1]:.0f} POSTs/s"
            )
            # The order flips every run, so that a drift of the shared machine's load
            # does not always favour the same variant.
            order = ["bare", "hooked", "outbox_only", "separate"]
            got: dict[str, tuple[float, float, float]] = {}
            for variant in order if run % 2 == 0 else order[::-1]:
                target = None if variant == "bare" else url
                got[variant] = _dial_rate(
                    ctx,
                    s,
                    rows,
                    target,
                    deliver=variant in ("hooked", "separate"),
                    separate=variant == "separate",
                )
            bare, (hooked, share, drain_s), outbox_only = (
                got["bare"][0],
                got["hooked"],
                got["outbox_only"][0],
            )
            data["bare"].append(bare)
            data["hooked"].append(hooked)
            data["outbox_only"].append(outbox_only)
            data["ratio"].append(hooked / bare)
            data["outbox_ratio"].append(outbox_only / bare)
            data["separate"].append(got["separate"][0])
            data["separate_ratio"].append(got["separate"][0] / bare)
            data["sent_share"].append(share)
            data["drain_s"].append(drain_s)
            ctx.log(
                f"  dials/s: {bare:.0f} without endpoints, {hooked:.0f} with 3, "
                f"{outbox_only:.0f} with 3 disabled (outbox only), "
                f"{got['separate'][0]:.0f} with 3 delivered by a --queues webhooks process"
            )
    section.figures += _figures(ctx, data, deliveries, rows)
    if median(data["ratio"]) < OUTBOX_TARGET:
        section.holdback += [
            f"- With dialing first (a worker that dials holds deliveries to a trickle while "
            f"dial messages wait), what the hooked job still pays is the outbox itself "
            f"(3 disabled endpoints: {median(data['outbox_ratio']):.2f}x: every event "
            "appended to the workspace's outbox in the event's own script) and the trickle "
            f"of deliveries; {median(data['sent_share']) * 100:.1f} % of the job's "
            "deliveries had gone out when it completed. On 2 cores the run-to-run spread "
            "of zero-length dials (about 10 %) is of the same size as the cost measured.",
        ]
    section.notes += [
        f"How: deliveries/s — {ENDPOINTS} endpoints taking `*` on one receiver (a separate "
        "asyncio process answering 204), the outbox pre-filled with the entries `emit` "
        f"writes, then a fresh `batchdial worker --processes 1 --threads {THREADS}` "
        "delivers them (fan-out, take, sign, POST on the loop, record): deliveries / (last "
        "request - first request, at the receiver). Baseline right after: the same number "
        f"of POSTs with plain httpx, {ENDPOINTS} at a time, from one process.",
        f"Outbox cost — per run, a job of {rows:,} zero-length dials (cap {CAP}) in a "
        "workspace with no endpoint, one in a workspace with 3 endpoints taking every "
        "event, each with fresh workers (1x8) that also deliver (dialing first: a trickle "
        "while dial messages wait, the rest after), and one "
        "with the 3 endpoints disabled (every event still goes to the outbox and is fanned "
        "out, nothing is sent: the outbox's own cost), the order flipped every run; "
        "dials/s = dial.started events / (last dial.finished - first dial.started); the "
        "figures are medians of per-run ratios.",
    ]
    return section


def _figures(ctx: Ctx, data: dict[str, list[float]], deliveries: int, rows: int) -> list[Figure]:
    rate, plain = median(data["delivered"]), median(data["plain"])
    return [
        Figure(
            label=f"webhook deliveries/s, 1 worker process x {THREADS} threads",
            value=rate,
            unit="deliveries/s",
            digits=0,
            baseline_label=f"plain httpx POSTs, {ENDPOINTS} at a time",
            baseline=plain,
            baseline_unit="POSTs/s",
            ratio=rate / plain,
            runs=data["delivered"],
            command=ctx.command("webhooks"),
            note=(
                f"{deliveries:,} deliveries over {ENDPOINTS} endpoints (each sends one at a "
                f"time, in order); plain runs {runs_text(data['plain'])} POSTs/s"
            ),
        ),
        _vs_none(
            ctx,
            data,
            "ratio",
            "dial throughput with 3 endpoints taking `*` vs none",
            target_note=" (at most 15 % slower)",
            note=(
                f"{rows:,} zero-length dials, cap {CAP}, 1x{THREADS}: with endpoints "
                f"{runs_text(data['hooked'])} dials/s, without {runs_text(data['bare'])}; "
                f"{median(data['sent_share']) * 100:.1f} % of the job's deliveries had "
                "reached the receiver when the job completed (dialing first), the rest "
                f"{runs_text(data['drain_s'], 1)} s later"
            ),
        ),
        _vs_none(
            ctx,
            data,
            "outbox_ratio",
            "dial throughput, outbox only (3 endpoints disabled) vs none",
            note=(
                "every event written to the outbox and fanned out, no delivery made: "
                f"{runs_text(data['outbox_only'])} dials/s"
            ),
        ),
        _vs_none(
            ctx,
            data,
            "separate_ratio",
            "dial throughput, 3 endpoints delivered by a `--queues webhooks` process",
            note=(
                "the dialing worker consumes dial,pump only; a second process (1x8, "
                "--queues webhooks) delivers every event, on the same 2 cores: "
                f"{runs_text(data['separate'])} dials/s"
            ),
        ),
    ]


def _vs_none(
    ctx: Ctx,
    data: dict[str, list[float]],
    key: str,
    label: str,
    *,
    note: str,
    target_note: str = "",
) -> Figure:
    """The figure of a dial throughput ratio (runs ``data[key]``) against the job with no
    endpoint, whose target is :data:`OUTBOX_TARGET`."""
    ratio = median(data[key])
    return Figure(
        label=label,
        value=ratio,
        unit="x",
        digits=2,
        target=f">= {OUTBOX_TARGET} x{target_note}",
        met=ratio >= OUTBOX_TARGET,
        baseline_label="no endpoint",
        baseline=median(data["bare"]),
        baseline_unit="dials/s",
        runs=data[key],
        command=ctx.command("webhooks"),
        note=note,
    )
