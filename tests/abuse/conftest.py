"""Fixtures of the abuse suite."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
import structlog
from fastapi.testclient import TestClient

from domain.signing import FixedClock
from producer.http.app import create_app
from producer.validation import Limits
from tests.abuse.shape import ADMIN_KEY, SECRET


@pytest.fixture(autouse=True)
def _plain_tracebacks() -> Iterator[None]:
    """Render logged exceptions as plain text while a test of this suite runs.

    Unconfigured structlog renders exceptions with ``rich`` (with every frame's locals)
    whenever rich is installed, and schemathesis installs it: one logged 500 then took
    13-25 s, which would turn each product defect this suite finds into a slow test.
    Only the rendering changes; nothing is filtered.
    """
    old = structlog.get_config()
    procs = list(old["processors"])
    if procs and isinstance(procs[-1], structlog.dev.ConsoleRenderer):
        procs[-1] = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback, colors=False
        )
        structlog.configure(processors=procs)
    yield
    structlog.configure(**old)


@pytest.fixture
def clock() -> FixedClock:
    """The clock of ``secured_api``'s signature checks, pinned at a whole second of now.

    Pinned, so that a boundary (a signature exactly TOLERANCE_S seconds ahead) does not
    depend on when the test runs; at now, so that a signature made with the real time
    (``sign`` without ``at``) a moment later is well inside the tolerance.
    """
    return FixedClock(float(int(time.time())))


@pytest.fixture
def secured_api(real_redis: redis.Redis, namespace: str, clock: FixedClock) -> Iterator[TestClient]:
    """The in-process API over the test's namespace, with a dialer secret set and its
    signature checks timed by ``clock``.

    A 500 is answered (not raised into the test), so a check sees the status it got.
    """
    app = create_app(
        real_redis,
        namespace,
        limits=Limits(max_rows=2000),
        max_body_bytes=1_000_000,
        dialer_secret=SECRET,
        clock=clock,
        admin_key=ADMIN_KEY,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
