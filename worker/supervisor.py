"""``batchdial worker --processes N``: runs N worker processes and serves their metrics.

The supervisor starts each worker as a child process (``batchdial worker --child``),
restarts one that dies, and on SIGTERM/SIGINT asks each to stop (they finish the calls
they hold, up to their grace time) before it exits. Metrics: every child writes its
own files to a prometheus multiprocess directory, cleaned at start; the supervisor
serves their sum, plus dramatiq's middleware metrics and the figures read from Redis,
on ``BATCHDIAL_METRICS_PORT`` (0: not served), and marks dead children's files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import structlog

from config.redis import redis_for
from config.settings import Settings
from domain.errors import ConfigError
from domain.keys import Keys
from worker.stopflag import StopFlag

log = structlog.get_logger(__name__)

#: Extra seconds a child gets beyond its own grace time before it is killed.
KILL_AFTER_S = 10.0
#: How long a child must have lived for its death to be restarted at once.
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


def prepare_metrics_dir() -> Path:
    """The multiprocess directory (``PROMETHEUS_MULTIPROC_DIR`` or a new one), emptied."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="batchdial-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def serve_metrics(settings: Settings, path: Path) -> None:
    """Serve the children's summed metrics and the Redis figures on the metrics port."""
    from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

    from domain.metrics import RedisCollector  # noqa: PLC0415

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    registry.register(RedisCollector(redis_for(settings), Keys(settings.namespace)))
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"BATCHDIAL_METRICS_PORT={settings.metrics_port}: cannot listen on it ({exc}); "
            "choose a free port, or 0 to serve no metrics"
        ) from None


def _child_command(threads: int, queues: str | None) -> list[str]:
    command = [sys.executable, "-m", "batchdial", "worker", "--child", "--threads", str(threads)]
    return command if queues is None else [*command, "--queues", queues]


def run_workers(settings: Settings, processes: int, threads: int, queues: str | None = None) -> int:
    """Run ``processes`` worker processes (consuming ``queues``, a comma list; default
    all) until SIGTERM/SIGINT; returns an exit code."""
    if processes < 1 or threads < 1:
        raise ConfigError("--processes and --threads must be at least 1")
    path = prepare_metrics_dir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path), "dramatiq_prom_db": str(path)}
    if settings.metrics_port:
        os.environ.update({"PROMETHEUS_MULTIPROC_DIR": str(path), "dramatiq_prom_db": str(path)})
        serve_metrics(settings, path)
    command = _child_command(threads, queues)
    stop = StopFlag()  # not a threading.Event: see worker/stopflag.py
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set("signal"))

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env)  # noqa: S603 -- our own command

    children = [spawn() for _ in range(processes)]
    log.info(
        "workers_started",
        processes=processes,
        threads=threads,
        metrics_dir=str(path),
        metrics_port=settings.metrics_port,
    )
    deaths = 0
    while not stop.wait(0.5):
        for i, child in enumerate(children):
            if child.poll() is None:
                continue
            _mark_dead(path, child.pid)
            pause = RESTART_BACKOFF_S[min(deaths, len(RESTART_BACKOFF_S) - 1)]
            deaths += 1
            log.warning(
                "worker_process_died", pid=child.pid, code=child.returncode, restart_in_s=pause
            )
            if stop.wait(pause):
                break
            children[i] = spawn()
    log.info("workers_stopping", processes=len(children))
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    from worker.runtime import SHUTDOWN_GRACE_S  # noqa: PLC0415

    for child in children:
        try:
            child.wait(timeout=SHUTDOWN_GRACE_S + KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            log.error("worker_process_killed", pid=child.pid)
            child.kill()
            child.wait()
        _mark_dead(path, child.pid)
    if not settings.keep_metrics_dir:
        shutil.rmtree(path, ignore_errors=True)
    log.info("workers_stopped")
    return 0


def _mark_dead(path: Path, pid: int) -> None:
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
