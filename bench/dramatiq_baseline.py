"""Plain-dramatiq baselines, run in worker processes of their own.

- ``noop``: an actor that does nothing, drained by P processes x T threads: the most
  messages/s dramatiq's Redis broker moves on this machine (the throughput baseline).
- ``limited``: an actor that holds a slot of dramatiq's own
  ``ConcurrentRateLimiter`` (``RedisBackend``, its own key under the scratch
  namespace) for D seconds: how dramatiq alone keeps a cap of C busy (the slot
  utilisation baseline). A message that finds no free slot raises
  ``RateLimitExceeded`` and is retried by dramatiq's Retries middleware, configured
  as a user would: ``max_retries=1_000_000``, ``min_backoff=100`` ms,
  ``max_backoff=2_000`` ms (exponential backoff with jitter).

A child (``python -m bench.dramatiq_baseline ...``) builds its broker and worker,
prints ``ready``, starts consuming when it reads ``go`` on stdin, stops when it reads
``stop`` (or stdin closes), and writes what it did (start/end of every message, CPU
seconds) as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from bench.common import ROOT, BenchError
from config.broker import BatchdialBroker, make_broker
from config.redis import make_redis

NOOP_QUEUE = "noop"
LIMITED_QUEUE = "limited"
#: Retries of the limited actor, as a user of ConcurrentRateLimiter would set them.
RETRY_OPTIONS: dict[str, Any] = {"max_retries": 1_000_000, "min_backoff": 100, "max_backoff": 2_000}


def declare(broker: RedisBroker, namespace: str, url: str, records: list[Any]) -> dict[str, Any]:
    """The baseline actors on ``broker``; each appends (start, end) to ``records``."""
    limiters: dict[tuple[str, int], ConcurrentRateLimiter] = {}
    backend: list[RedisBackend] = []

    def noop() -> None:
        t = time.time()
        records.append((t, t))

    def limited(tag: str, cap: int, call_s: float) -> None:
        limiter = limiters.get((tag, cap))
        if limiter is None:
            if not backend:
                backend.append(RedisBackend(client=redis.Redis.from_url(url)))
            limiter = ConcurrentRateLimiter(  # type: ignore[no-untyped-call]
                backend[0], f"{namespace}:limiter:{tag}", limit=cap, ttl=900_000
            )
            limiters[(tag, cap)] = limiter
        with limiter.acquire():  # raises RateLimitExceeded when no slot is free
            t0 = time.time()
            time.sleep(call_s)
            records.append((t0, time.time()))

    return {
        "noop": dramatiq.actor(
            broker=broker, actor_name="bench.noop", queue_name=NOOP_QUEUE, max_retries=0
        )(noop),
        "limited": dramatiq.actor(
            broker=broker, actor_name="bench.limited", queue_name=LIMITED_QUEUE, **RETRY_OPTIONS
        )(limited),
    }


def prefill(broker: BatchdialBroker, actor: Any, args: tuple[Any, ...], n: int) -> None:
    """Enqueue ``n`` messages of ``actor`` quickly: in batches of 1,000, one round trip
    each (``enqueue_now``: dramatiq's enqueue of each message, in one pipeline)."""
    sent = 0
    while sent < n:
        batch = [actor.message(*args) for _ in range(min(1000, n - sent))]
        broker.enqueue_now(batch)
        sent += len(batch)


@dataclass
class ChildResult:
    """What one baseline process did."""

    records: list[tuple[float, float]]
    cpu_s: float


class Children:
    """Baseline worker processes, started and ready, waiting for ``go``."""

    def __init__(self, procs: list[subprocess.Popen[str]], outs: list[Path]) -> None:
        self.procs = procs
        self.outs = outs
        self.go_at = 0.0

    def go(self) -> None:
        """Every child starts consuming."""
        self.go_at = time.time()
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def stop(self, timeout_s: float = 60) -> list[ChildResult]:
        """Every child stops (in-flight messages end) and reports."""
        for proc in self.procs:
            with suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.write("stop\n")
                proc.stdin.close()
        results = []
        for proc, out in zip(self.procs, self.outs, strict=True):
            proc.wait(timeout=timeout_s)
            data = json.loads(out.read_text())
            results.append(ChildResult([tuple(r) for r in data["records"]], data["cpu_s"]))
        return results


@contextmanager
def children(
    url: str, namespace: str, tmp: Path, *, processes: int, threads: int
) -> Iterator[Children]:
    """``processes`` baseline worker processes of ``threads`` threads, ready; killed at exit."""
    procs: list[subprocess.Popen[str]] = []
    outs: list[Path] = []
    try:
        for i in range(processes):
            out = tmp / f"baseline-{namespace}-{i}.json"
            with (tmp / f"baseline-{namespace}-{i}.log").open("w") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "bench.dramatiq_baseline",
                            "--redis-url",
                            url,
                            "--namespace",
                            namespace,
                            "--threads",
                            str(threads),
                            "--out",
                            str(out),
                        ],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=log,
                        text=True,
                        cwd=ROOT,
                    )
                )
            outs.append(out)
        for proc in procs:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline().strip() if ready else "(no answer in 60 s)"
            if line != "ready":
                raise BenchError(f"baseline worker not ready ({line!r}); see {tmp}")
        yield Children(procs, outs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for pipe in (proc.stdin, proc.stdout):
                with suppress(OSError):
                    if pipe is not None:
                        pipe.close()


def client_broker(url: str, namespace: str) -> tuple[RedisBroker, dict[str, Any]]:
    """A broker and the baseline actors, to send messages from the benchmark process."""
    broker = make_broker(make_redis(url, decode=False), namespace)
    return broker, declare(broker, namespace, url, [])


def qsize(broker: RedisBroker, queue: str) -> int:
    """Messages of ``queue`` not yet acked (queued, delayed or in flight)."""
    return int(broker.do_qsize(queue))


def _child(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    records: list[tuple[float, float]] = []
    broker = make_broker(make_redis(args.redis_url, decode=False), args.namespace)
    declare(broker, args.namespace, args.redis_url, records)
    worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=100)
    stop = threading.Event()
    print("ready", flush=True)
    line = sys.stdin.readline().strip()
    if line == "go":
        worker.start()

        def stop_at_next_line() -> None:
            sys.stdin.readline()
            stop.set()

        threading.Thread(target=stop_at_next_line, daemon=True).start()
        stop.wait(args.max_seconds)
        worker.stop(timeout=30_000)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.out).write_text(
        json.dumps({"records": records, "cpu_s": usage.ru_utime + usage.ru_stime})
    )
    sys.stdout.flush()
    os._exit(0)  # do not wait for dramatiq's daemon threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-seconds", type=float, default=600)
    sys.exit(_child(parser.parse_args()))


if __name__ == "__main__":
    main()
