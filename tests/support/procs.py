"""batchdial's own processes in tests (``batchdial …`` as a subprocess): bounded in time,
and always stopped (TERM, then KILL, by process group)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]

#: The pool of numbers of a workspace created by :func:`workspace`.
NUMBERS = ("+12125550100", "+13125550100", "+14155550100")


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


def workspace(env: dict[str, str], dial_limit: int, per_number: int) -> dict[str, Any]:
    """``batchdial workspace create`` with the :data:`NUMBERS` pool; its JSON answer."""
    args = [
        "workspace",
        "create",
        "--name",
        "e2e",
        "--dial-limit",
        str(dial_limit),
        "--per-number-limit",
        str(per_number),
    ]
    for number in NUMBERS:
        args += ["--number", number]
    done = batchdial(*args, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@contextmanager
def running(*args: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``batchdial ARGS`` in the background; stop it (TERM, then KILL) on exit.
    A worker's metrics directory is one of the test's own, removed even when the worker
    was killed (its supervisor removes the one it made only when it stops itself)."""
    with (
        tempfile.TemporaryDirectory(prefix="batchdial-metrics-", ignore_cleanup_errors=True) as tmp,
        log.open("wb") as out,
    ):
        if args[:1] == ("worker",):
            env = {"PROMETHEUS_MULTIPROC_DIR": tmp, **env}
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


@dataclass(frozen=True)
class Api:
    """A running ``batchdial api``: its base URL, process id and port."""

    base: str
    pid: int
    port: int


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[Api]:
    """A real ``batchdial api`` on a free port, once it answers (its pid too, to read
    its memory or signal it)."""
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
        yield Api(base, proc.pid, port)


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """A real ``batchdial api`` on a free port; yields its base URL once it answers."""
    with api_process(env, log) as api:
        yield api.base
