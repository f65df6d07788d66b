"""The process stack of the end-to-end and fault suites as one factory: a real
``batchdial api``, real workers, a workspace made with ``batchdial workspace create``,
and an HTTP client with its key. Everything a stack starts is stopped when it closes
(and, at the latest, when the test that made it ends: see the ``start_stack`` fixture)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import redis

from tests.support.bodies import job_body
from tests.support.http import job_url
from tests.support.procs import api_server, running, workspace
from tests.support.redis_server import drop_namespace
from tests.support.waits import wait_for


class Stack:
    """A running API, its workers and a client of one workspace; a context manager that
    stops them all on exit. ``log(name)`` is the path of a process's log."""

    def __init__(
        self,
        env: dict[str, str],
        logs: Path,
        *,
        workers: int,
        threads: int,
        dial_limit: int,
        per_number: int,
        timeout: float,
    ) -> None:
        self.env = env
        self.logs = logs
        self.threads = threads
        self.workers: list[subprocess.Popen[bytes]] = []
        self._exit = ExitStack()
        self._started = 0
        try:
            # The workspace is made (a CLI process) while the API starts: neither needs
            # the other, and each takes about half a second of the stack's start.
            with ThreadPoolExecutor(1) as pool:
                made = pool.submit(workspace, env, dial_limit=dial_limit, per_number=per_number)
                self.base = self._exit.enter_context(api_server(env, self.log("api")))
                self.ws = made.result()
            for _ in range(workers):
                self.add_worker()
            self.http = self._exit.enter_context(
                httpx.Client(
                    base_url=self.base, headers={"api_key": self.ws["apiKey"]}, timeout=timeout
                )
            )
        except BaseException:
            self._exit.close()
            raise

    def log(self, name: str) -> Path:
        """The log file of the process called ``name`` (``api``, ``w1``, ``w2``, …)."""
        return self.logs / f"{name}.log"

    def add_worker(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        name: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one more ``batchdial worker`` (``--threads`` of the stack unless ``args``
        say otherwise), logging to ``log(name)`` (``w1``, ``w2``, … by default); it is
        stopped when the stack closes, if it is still running."""
        self._started += 1
        options = list(args) or ["--threads", str(self.threads)]
        proc = self._exit.enter_context(
            running(
                "worker",
                *options,
                env=env or self.env,
                log=self.log(name or f"w{self._started}"),
            )
        )
        self.workers.append(proc)
        return proc

    def body(self, rows: int | list[dict[str, Any]], cap: int, **overrides: Any) -> dict[str, Any]:
        """A create body (:func:`~tests.support.bodies.job_body`) for the stack's workspace
        that dials from its whole pool at any time, unless ``overrides`` say otherwise."""
        body = job_body(self.ws, rows, cap, every_number=True, schedule=None)
        body.update(overrides)
        return body

    def create_job(
        self, rows: int | list[dict[str, Any]], cap: int, **overrides: Any
    ) -> dict[str, Any]:
        """Create a job with :meth:`body`; the job view."""
        answer = self.http.post("/api/batch_dial_jobs", json=self.body(rows, cap, **overrides))
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def start(self, job: dict[str, Any]) -> None:
        """Start (unpause) ``job``."""
        self.http.post(f"{job_url(job)}/paused", json={"paused": False}).raise_for_status()

    def job(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's view now."""
        return dict(self.http.get(job_url(job)).json())

    def wait_finished(self, job: dict[str, Any], at_least: int, timeout: float) -> None:
        """Wait until at least ``at_least`` of the job's dials have finished."""
        wait_for(
            lambda: self.job(job)["counts"]["finished"] >= at_least,
            timeout,
            f"{at_least} dials of {job['id']} to finish",
        )

    def wait_status(self, job: dict[str, Any], status: str, timeout: float) -> None:
        """Wait until the job's status is ``status``."""
        wait_for(lambda: self.job(job)["status"] == status, timeout, f"{job['id']} {status}")

    def close(self) -> None:
        """Stop the client, the workers and the API (idempotent)."""
        self._exit.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class StackFactory:
    """Makes :class:`Stack` s for one test (logs in its ``tmp_path``) and closes any that
    are still open when the test ends."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.stacks: list[Stack] = []

    def __call__(
        self,
        env: dict[str, str],
        *,
        workers: int = 1,
        threads: int = 4,
        dial_limit: int = 10,
        per_number: int = 10,
        timeout: float = 10,
    ) -> Stack:
        """A started :class:`Stack`: the API, ``workers`` workers of ``threads`` threads,
        a workspace with ``dial_limit`` and ``per_number`` limits, a client (``timeout``)."""
        stack = Stack(
            env,
            self.logs,
            workers=workers,
            threads=threads,
            dial_limit=dial_limit,
            per_number=per_number,
            timeout=timeout,
        )
        self.stacks.append(stack)
        return stack

    def close(self) -> None:
        """Close every stack made (the newest first), then drop the keys of their
        namespaces: a test's namespace is its own, and a big job's keys left behind
        (200,000 for the 100k-row append) slow every later test's clean-up scan."""
        for stack in reversed(self.stacks):
            stack.close()
        for url, namespace in {
            (s.env.get("BATCHDIAL_REDIS_URL", ""), s.env.get("BATCHDIAL_NAMESPACE", ""))
            for s in self.stacks
        }:
            if namespace:
                _drop(url, namespace)


def _drop(url: str, namespace: str) -> None:
    """Drop ``namespace`` on the plain Redis at ``url`` (not on a Sentinel's, nor on a
    server a fault test already stopped: those go with their server)."""
    if not url.startswith("redis://"):
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=10)
    try:
        drop_namespace(client, namespace)
    except redis.RedisError:
        pass
    finally:
        client.close()
