"""``batchdial demo``: a sample job end to end on the embedded default.

An in-process Redis (fakeredis with Lua), the real worker code on threads of this
process, and the simulated dialer: the same code paths as production, only the
connection differs. Shows progress, then a summary of what happened.
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from collections import Counter
from typing import Any, TextIO

from config.redis import make_redis
from config.settings import load_settings
from domain.pagination import collect
from domain.replay import peak_concurrency
from producer.service import Producer
from producer.validation import Limits
from worker.engine import Timing
from worker.runtime import build_runtime

logging.getLogger("dramatiq").setLevel(logging.WARNING)

POOL = ("+12125550100", "+13125550100", "+14155550100")
AREA_CODES = (212, 213, 312, 415, 503, 617, 646, 702, 718, 917)


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "toNumber": f"+1{AREA_CODES[i % len(AREA_CODES)]}555{i // len(AREA_CODES):04d}",
            "inputs": {"customer_name": f"Customer {i + 1}", "account_id": f"ACC{i + 1:05d}"},
        }
        for i in range(n)
    ]


def _all_week() -> dict[str, Any]:
    return {
        "days": [
            {"dayOfWeek": d, "timeSlots": [{"startTime": "00:00", "endTime": "24:00"}]}
            for d in range(7)
        ],
        "timezone": "America/New_York",
    }


def run_demo(
    rows: int = 300,
    cap: int = 20,
    call_seconds: float = 0.2,
    out: TextIO = sys.stdout,
    timeout_s: float = 120.0,
) -> int:
    """Run the sample job to COMPLETE and print the summary; returns an exit code."""
    url = f"memory://demo-{secrets.token_hex(4)}"
    settings = load_settings(
        redis_url=url, namespace="demo", simulated_call_seconds=call_seconds, dialer="simulated"
    )
    state = make_redis(url)
    producer = Producer(state, settings.namespace, Limits(max_rows=max(rows, 1)))
    per_number = max(1, (cap * 2) // len(POOL))
    ws = producer.workspaces.create("Demo Co", cap, list(POOL), per_number)
    ws_id = ws["workspaceId"]
    job = producer.create_job(
        ws_id,
        {
            "name": "Demo survey",
            "callAgentId": "demo-agent",
            "maxConcurrentDials": cap,
            "fromPhoneNumberIds": [p["id"] for p in ws["phoneNumbers"]],
            "schedule": _all_week(),
            "rows": _rows(rows),
        },
    )
    out.write(
        f"batchdial demo: {rows} rows, cap {cap}, {len(POOL)} pool numbers "
        f"(each at most {per_number} at once), calls of {call_seconds}s, "
        "in-process Redis and worker\n"
    )
    runtime = build_runtime(
        settings,
        threads=8,
        state_client=state,
        broker_client=make_redis(url, decode=False),
        timing=Timing(lease_ms=10_000, recheck_ms=2_000),
    )
    runtime.start()
    started = time.monotonic()
    try:
        producer.set_paused(ws_id, job["id"], False)
        last = ""
        while time.monotonic() - started < timeout_s:
            current = producer.get_job(ws_id, job["id"])
            c = current["counts"]
            line = (
                f"  {current['status']:<8} finished {c['finished']:>5}/{c['rows']:<5} "
                f"in progress {c['inProgress']:>3}  queued {c['queued']:>5}"
            )
            if line != last:
                out.write(("\r" + line) if out.isatty() else (line + "\n"))
                out.flush()
                last = line
            if current["status"] == "COMPLETE":
                break
            time.sleep(0.25)
        if out.isatty():
            out.write("\n")
    finally:
        runtime.stop(grace_s=5)
    elapsed = time.monotonic() - started
    final = producer.get_job(ws_id, job["id"])
    events = collect(lambda **kw: producer.events(ws_id, job["id"], **kw))
    dials = collect(lambda **kw: producer.dials(ws_id, job["id"], **kw))
    by_number = Counter(d["fromNumber"] for d in dials)
    types = Counter(e["type"] for e in events)
    out.write(f"\n{final['status']} in {elapsed:.1f}s: {len(dials)} dials for {rows} rows\n")
    out.write(
        "outcomes:      "
        + ", ".join(f"{k} {v}" for k, v in sorted(final["counts"]["byStatus"].items()))
        + "\n"
    )
    out.write("per number:    " + ", ".join(f"{n} {by_number[n]}" for n in POOL) + "\n")
    out.write(f"peak calls:    {peak_concurrency(events)} at once (cap {cap})\n")
    out.write(
        f"events:        {len(events)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(types.items()))
        + ")\n"
    )
    return 0 if final["status"] == "COMPLETE" else 1
