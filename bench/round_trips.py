"""Exact client-side Redis round trips per dial (a figure of benchmark 2).

An in-process worker (``build_runtime``) on counting connections dials a job of
zero-length calls: the requests it sends are counted exactly, whatever else the
shared Redis serves.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, ClassVar

import redis

from bench.common import THREADS, BenchError, Ctx
from bench.scratch import scratch


class CountingConnection(redis.Connection):
    """A connection that counts requests (round trips) and commands by name."""

    counts: ClassVar[Counter[str]] = Counter()

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self.counts["_round_trips"] += 1
        self.counts[str(args[0]).lower()] += 1
        super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def pack_commands(self, commands: Any) -> Any:
        commands = list(commands)
        self.counts["_round_trips"] += 1
        for cmd in commands:
            self.counts[str(cmd[0]).lower()] += 1
        return super().pack_commands(commands)  # type: ignore[no-untyped-call]


def _counting_client(url: str, decode: bool) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(
        url, connection_class=CountingConnection, decode_responses=decode
    )
    return redis.Redis(connection_pool=pool)


def round_trips_in_process(ctx: Ctx, rows: int, cap: int) -> tuple[Counter[str], int, float]:
    """Client-side requests of one in-process worker (build_runtime) for a job of
    zero-length calls and cap ``cap``: exact, whatever else the shared Redis serves."""
    from config.settings import load_settings  # noqa: PLC0415
    from worker.dialers.simulated import SimulatedDialer  # noqa: PLC0415
    from worker.runtime import build_runtime  # noqa: PLC0415

    with scratch(ctx.url) as s:
        ref = s.create_job(rows, cap)
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
