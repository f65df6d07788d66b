"""Redis for tests: the shared server's URL, a namespace's leases, and a ``redis-server``
of a test's own (to restart and stop). Every process started here is stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import redis

from tests.support.procs import free_port
from tests.support.waits import wait_until

#: The Redis the suite runs on (``scripts/test`` starts one when none answers).
REDIS_URL = os.environ.get("BATCHDIAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def fail_in_ci_else_skip(message: str) -> NoReturn:
    """Skip the test with ``message``; under ``CI=true`` fail it instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true needs it: {message}")
    pytest.skip(message)


def drop_namespace(client: redis.Redis, namespace: str) -> None:
    """Delete every key of ``namespace`` (and only those)."""
    batch = []
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)


def sem_members(client: redis.Redis, namespace: str) -> int:
    """Leases left in the namespace's semaphores and deadline index."""
    total = sum(int(client.zcard(k)) for k in client.scan_iter(match=f"{namespace}:*sem"))
    return total + int(client.zcard(f"{namespace}:deadlines"))


class OwnRedis:
    """A ``redis-server`` on a free loopback port with AOF (everysec) in ``directory``,
    which a test may stop, kill and start again on the same port and directory; ``env``
    is its environment (the test's own by default)."""

    def __init__(self, directory: Path, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.env = env
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the server; return once it answers PING (fail if it exits or takes 20 s)."""
        assert self.proc is None or self.proc.poll() is not None
        log = (self.directory / "redis.log").open("ab")
        proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        self.proc = proc
        log.close()
        self.starts += 1
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"redis-server exited: {(self.directory / 'redis.log').read_text()}"
                )
            try:
                return bool(client.ping())
            except (redis.ConnectionError, redis.BusyLoadingError):
                return False

        try:
            wait_until(answers, 20, "redis-server to answer", every=0.05)
        finally:
            client.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it (SIGTERM: a clean shutdown that flushes the AOF; SIGKILL: a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def leases_left(self, namespace: str) -> int:
        """Leases left in the namespace's semaphores and deadline index."""
        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sem_members(client, namespace)
        finally:
            client.close()


@contextmanager
def own_redis(directory: Path, env: dict[str, str] | None = None) -> Iterator[OwnRedis]:
    """An :class:`OwnRedis` (with ``env``), started, and stopped (by its PID) however the
    test ends; skips (fails under CI=true) when no ``redis-server`` binary is installed."""
    if shutil.which("redis-server") is None:
        fail_in_ci_else_skip("no redis-server binary to start a Redis of the test's own")
    directory.mkdir(parents=True, exist_ok=True)
    server = OwnRedis(directory, env)
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGTERM)
