"""Engine benchmark: dial throughput, slot utilisation, window-open latency.

Against the Redis at --redis-url (default 127.0.0.1:6379), each under a namespace of
its own that is deleted afterwards. Baselines are measured in the same run:
- throughput: a dramatiq no-op actor drained by the same number of worker threads;
- utilisation: the cap itself (1.0 = every slot busy while rows remain).

Reproduce: .venv/bin/python -m bench.engine [--window]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq

from config.broker import make_broker
from config.logging import configure_logging
from config.redis import make_redis
from config.settings import load_settings
from domain.pagination import collect
from producer.service import Producer
from producer.validation import Limits
from worker.dialers.simulated import SimulatedDialer
from worker.engine import Timing
from worker.runtime import build_runtime

NUMBERS = ["+12125550100", "+13125550100", "+14155550100", "+16175550100"]


def _drop(url: str, namespace: str) -> None:
    client = make_redis(url)
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        client.delete(key)


def _events(producer: Producer, ws: str, job: str) -> list[dict[str, Any]]:
    return collect(lambda **kw: producer.events(ws, job, **kw))


def _ms(event: dict[str, Any]) -> int:
    return int(event["id"].split("-")[0])


def run_job(
    url: str,
    *,
    rows: int,
    cap: int,
    call_s: float,
    threads: int,
    schedule: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """Run one job in one in-process worker; returns its events and the wall time."""
    namespace = f"bench-{secrets.token_hex(4)}"
    client = make_redis(url)
    producer = Producer(client, namespace, Limits(max_rows=rows))
    ws = producer.workspaces.create("bench", cap, NUMBERS, cap)
    body: dict[str, Any] = {
        "name": "bench",
        "callAgentId": "a",
        "maxConcurrentDials": cap,
        "fromPhoneNumberIds": [p["id"] for p in ws["phoneNumbers"]],
        "rows": [
            {"toNumber": f"+1{ac}555{i:04d}"}
            for ac in (212, 312, 415, 617, 718)
            for i in range(rows // 5 + 1)
        ][:rows],
    }
    if schedule:
        body["schedule"] = schedule
    job = producer.create_job(ws["workspaceId"], body)["id"]
    settings = load_settings(redis_url=url, namespace=namespace)
    runtime = build_runtime(
        settings,
        threads=threads,
        state_client=client,
        broker_client=make_redis(url, decode=False),
        dialer=SimulatedDialer(call_s, {"completed": 1}),
        timing=Timing(recheck_ms=1000),
    )
    runtime.start()
    started = time.monotonic()
    try:
        producer.set_paused(ws["workspaceId"], job, False)
        while producer.get_job(ws["workspaceId"], job)["status"] != "COMPLETE":
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        return _events(producer, ws["workspaceId"], job), elapsed
    finally:
        runtime.stop(grace_s=2)
        _drop(url, namespace)


def noop_rate(url: str, messages: int, threads: int) -> float:
    """Messages/s of a dramatiq no-op actor drained by ``threads`` threads."""
    namespace = f"bench-{secrets.token_hex(4)}"
    broker = make_broker(make_redis(url, decode=False), namespace)
    done = {"n": 0}

    @dramatiq.actor(broker=broker, actor_name="noop", queue_name="noop", max_retries=0)
    def noop() -> None:
        done["n"] += 1

    for _ in range(messages):
        noop.send()
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    started = time.monotonic()
    worker.start()
    while done["n"] < messages:
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    worker.stop()
    _drop(url, namespace)
    return messages / elapsed


def utilisation(events: list[dict[str, Any]], cap: int) -> float:
    """Mean dials in progress / cap, from the first start to when the last row started."""
    live, last, area = 0, None, 0.0
    starts = [e for e in events if e["type"] == "dial.started"]
    end = _ms(starts[-1])
    for event in events:
        if event["type"] not in ("dial.started", "dial.finished"):
            continue
        t = _ms(event)
        if t > end:
            break
        if last is not None:
            area += live * (t - last)
        last = t
        live += 1 if event["type"] == "dial.started" else -1
    span = end - _ms(starts[0])
    return area / span / cap if span else 1.0


def window_latency(url: str) -> float:
    """Seconds from a window opening (next minute boundary) to the job's first dial."""
    now = datetime.now(UTC)
    boundary = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (boundary - now).total_seconds() < 5:
        boundary += timedelta(minutes=1)
    schedule = {
        "days": [
            {
                "dayOfWeek": boundary.isoweekday() % 7,
                "timeSlots": [{"startTime": boundary.strftime("%H:%M"), "endTime": "24:00"}],
            }
        ],
        "timezone": "UTC",
    }
    events, _ = run_job(url, rows=5, cap=1, call_s=0.0, threads=2, schedule=schedule)
    first = min(_ms(e) for e in events if e["type"] == "dial.started")
    return first / 1000 - boundary.timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--window",
        action="store_true",
        help="also measure window latency (waits for a minute boundary)",
    )
    args = parser.parse_args()
    configure_logging("WARNING")
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    url = args.redis_url

    dial_rates, noop_rates = [], []
    for _ in range(args.runs):
        events, _elapsed = run_job(url, rows=2000, cap=50, call_s=0.0, threads=8)
        starts = [_ms(e) for e in events if e["type"] == "dial.started"]
        ends = [_ms(e) for e in events if e["type"] == "dial.finished"]
        dial_rates.append(len(starts) / ((max(ends) - min(starts)) / 1000))
        noop_rates.append(noop_rate(url, 2000, threads=8))
    rate, noop = statistics.median(dial_rates), statistics.median(noop_rates)
    print("throughput, zero-length simulated calls, 1 process x 8 threads, cap 50:")
    print(
        f"  batchdial: {rate:8.0f} dials/s (median of {args.runs}: "
        f"{', '.join(f'{r:.0f}' for r in dial_rates)})"
    )
    print(f"  dramatiq no-op actor, same threads: {noop:8.0f} msgs/s -> ratio {rate / noop:.2f}")

    for cap, call_s in ((20, 0.2), (20, 1.0)):
        rows = int(cap * 8 / call_s) if call_s < 1 else cap * 6
        figures = []
        peaks = []
        for _ in range(args.runs):
            events, _ = run_job(url, rows=rows, cap=cap, call_s=call_s, threads=8)
            figures.append(utilisation(events, cap))
            live = peak = 0
            for e in events:
                live += {"dial.started": 1, "dial.finished": -1}.get(e["type"], 0)
                peak = max(peak, live)
            peaks.append(peak)
        print(
            f"utilisation, cap {cap}, calls of {call_s}s, {rows} rows: "
            f"{statistics.median(figures):.3f} of the cap (median; peak {max(peaks)} / cap {cap})"
        )

    if args.window:
        latency = window_latency(url)
        print(f"window opening -> first dial: {latency:.3f}s")
    print("reproduce: .venv/bin/python -m bench.engine" + (" --window" if args.window else ""))


if __name__ == "__main__":
    main()
