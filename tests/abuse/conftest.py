"""Fixtures of the abuse suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import structlog
from fastapi.testclient import TestClient

from producer.http.app import create_app
from producer.service import Producer
from producer.validation import Limits
from tests.conftest import job_body
from tests.engine_helpers import HangingDialer
from worker.engine.core import Engine
from worker.engine.timing import Timing


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


class NullOutbox:
    """Drops the engine's messages: the tests drive the engine by hand."""

    def send_pump(self, ws_id: str, job_id: str) -> None:
        pass

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        pass


def start_one_dial(
    client: redis.Redis, producer: Producer, ws: dict[str, Any], rows: int = 3
) -> dict[str, Any]:
    """An ACTIVE job of ``ws`` with one live dial handed to a provider; ids of both."""
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=rows, schedule=None))
    producer.set_paused(ws["workspaceId"], job["id"], False)
    dialer = HangingDialer(handoff=True)
    engine = Engine(client, producer.keys, dialer, NullOutbox(), Timing())
    engine.pump(ws["workspaceId"], job["id"])
    assert engine.dial(ws["workspaceId"], job["id"], 0) == "ok"
    return {"job_id": job["id"], "dial_id": dialer.requests[0].dial_id}


#: BATCHDIAL_DIALER_SECRET of the in-process API of this suite.
SECRET = "abuse-secret"


@pytest.fixture
def secured_api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    """The in-process API over the test's namespace, with a dialer secret set.

    A 500 is answered (not raised into the test), so a check sees the status it got.
    """
    app = create_app(
        real_redis,
        namespace,
        limits=Limits(max_rows=2000),
        max_body_bytes=1_000_000,
        dialer_secret=SECRET,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def producer_of(client: TestClient) -> Producer:
    """The producer behind an in-process API client."""
    producer: Producer = client.app.state.producer  # type: ignore[attr-defined]
    return producer
