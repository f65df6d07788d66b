"""``batchdial demo``: a sample job end to end on the embedded default.

An in-process Redis (fakeredis with Lua), the real worker code on threads of this
process, and the simulated dialer: the same code paths as production, only the
connection differs. Shows progress, then a summary of what happened.

With ``serve`` (``batchdial demo --serve``) the embedded system keeps running after
the sample job: the API and its Batch Dials page are served on ``host:port``, a
second, slower job waits to be started from the page, and the address and the
workspace's API key are printed. Ctrl-C stops the server, then the worker.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import redis

from batchdial.demo_view import LiveView, PlainView, print_table, snapshot, summary_table
from config.redis import make_redis
from config.settings import load_settings
from domain.pagination import collect
from domain.replay import peak_concurrency
from producer.service import Producer
from producer.validation import Limits
from worker.engine.timing import Timing
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


@dataclass(frozen=True, slots=True)
class Serve:
    """Where ``batchdial demo --serve`` serves the API and the page."""

    host: str = "127.0.0.1"
    port: int = 8000


def run_demo(
    rows: int = 300,
    cap: int = 20,
    call_seconds: float = 0.2,
    *,
    out: TextIO = sys.stdout,
    timeout_s: float = 120.0,
    serve: Serve | None = None,
    log_note: str = "",
) -> int:
    """Run the sample job to COMPLETE and print the summary; returns an exit code.

    With ``serve``, then keep everything running and serve the page until Ctrl-C.
    """
    url = f"memory://demo-{secrets.token_hex(4)}"
    settings = load_settings(
        redis_url=url, namespace="demo", simulated_call_seconds=call_seconds, dialer="simulated"
    )
    state = make_redis(url)
    limits = Limits() if serve else Limits(max_rows=max(rows, 1))
    producer = Producer(state, settings.namespace, limits)
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
        "in-process Redis and worker\n" + (f"{log_note}\n" if log_note else "")
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
        view = LiveView(out, job["name"], per_number) if out.isatty() else PlainView(out)
        with view:
            while time.monotonic() - started < timeout_s:
                current = producer.get_job(ws_id, job["id"])
                dials = collect(lambda **kw: producer.dials(ws_id, job["id"], **kw))
                view.update(snapshot(current, dials, POOL))
                if current["status"] == "COMPLETE":
                    break
                time.sleep(0.25)
        elapsed = time.monotonic() - started
        code = _summary(producer, ws_id, job["id"], elapsed=elapsed, out=out)
        if serve is not None:
            _serve(
                producer,
                state,
                ws,
                limits=limits,
                serve=serve,
                out=out,
                quiet_logs="log_level" not in settings.model_fields_set,
            )
    finally:
        runtime.stop(grace_s=5)
    return code


def _summary(producer: Producer, ws_id: str, job_id: str, *, elapsed: float, out: TextIO) -> int:
    final = producer.get_job(ws_id, job_id)
    events = collect(lambda **kw: producer.events(ws_id, job_id, **kw))
    dials = collect(lambda **kw: producer.dials(ws_id, job_id, **kw))
    table = summary_table(
        final,
        dials=dials,
        events=events,
        pool=POOL,
        peak=peak_concurrency(events),
        elapsed_s=elapsed,
    )
    print_table(out, table)
    return 0 if final["status"] == "COMPLETE" else 1


def _serve(
    producer: Producer,
    state: redis.Redis,
    ws: dict[str, Any],
    *,
    limits: Limits,
    serve: Serve,
    out: TextIO,
    quiet_logs: bool,
) -> None:
    """Serve the API and the page over the demo's Redis until Ctrl-C (or SIGTERM).

    ``quiet_logs`` (no ``BATCHDIAL_LOG_LEVEL`` given) keeps the log to warnings.
    """
    import uvicorn  # noqa: PLC0415 -- only --serve needs the server

    from producer.http.app import create_app  # noqa: PLC0415

    # A slower job, not started: the page's Start button is the newcomer's to press.
    follow_up = producer.create_job(
        ws["workspaceId"],
        {
            "name": "Demo follow-up (start me)",
            "callAgentId": "demo-agent",
            "maxConcurrentDials": 3,
            "fromPhoneNumberIds": [p["id"] for p in ws["phoneNumbers"]],
            "schedule": _all_week(),
            "rows": _rows(600),
        },
    )
    app = create_app(state, producer.keys.namespace, limits=limits)
    config = uvicorn.Config(
        app,
        host=serve.host,
        port=serve.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,  # open event streams must not hold up Ctrl-C long
    )
    server = uvicorn.Server(config)
    if quiet_logs:
        # Keep the address and key on screen: a line per dial would scroll them away.
        logging.getLogger().setLevel(logging.WARNING)
    address = f"http://{serve.host}:{serve.port}/"
    out.write(
        "\nThe demo keeps running with its Batch Dials page:\n"
        f"  page:     {address}\n"
        f"  API key:  {ws['apiKey']}\n"
        f"  A second job, {follow_up['name']!r} ({follow_up['id']}), waits for you to press "
        "Start.\n"
        "  Everything is in memory and goes away when you press Ctrl-C.\n"
    )
    out.flush()
    # uvicorn shuts down cleanly on Ctrl-C, then re-raises the signal it caught.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    out.write("batchdial demo: stopped\n")
