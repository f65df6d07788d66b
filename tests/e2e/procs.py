"""Helpers to run batchdial's own processes in tests: bounded, and always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.engine_helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(namespace: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a batchdial process under ``namespace``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHDIAL_")}
    env.update(
        {
            "BATCHDIAL_NAMESPACE": namespace,
            "BATCHDIAL_REDIS_URL": redis_url,
            "BATCHDIAL_METRICS_PORT": "0",  # several workers share this host: no fixed port
            **extra,
        }
    )
    return env


def batchdial(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``batchdial ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "batchdial", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


@contextmanager
def running(*args: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``batchdial ARGS`` in the background; stop it (TERM, then KILL) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "batchdial", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """A real ``batchdial api`` on a free port; yields its base URL once it answers."""
    port = free_port()
    with running("api", "--port", str(port), env=env, log=log) as proc:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the API exited: {log.read_text()[-2000:]}")
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, "the API to answer")
        yield base
