"""Shared fixtures: a real Redis (or fakeredis) under a namespace of the test's own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from config.redis import make_redis
from producer.http.app import create_app
from producer.service import Producer
from producer.validation import Limits

REDIS_URL = os.environ.get("BATCHDIAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _real_redis_or_skip() -> redis.Redis:
    client = make_redis(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"no Redis answers at {REDIS_URL} ({type(exc).__name__}); scripts/test starts one"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs a real Redis: {message}")
        pytest.skip(message)
    return client


def _drop_namespace(client: redis.Redis, namespace: str) -> None:
    """Delete every key of ``namespace`` (and only those)."""
    batch = []
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test (or deployment) uses."""
    return f"bdtest-{secrets.token_hex(6)}"


@pytest.fixture
def real_redis(namespace: str) -> Iterator[redis.Redis]:
    """A client of the real Redis; the test's namespace is dropped before and after."""
    client = _real_redis_or_skip()
    _drop_namespace(client, namespace)
    yield client
    _drop_namespace(client, namespace)
    client.close()


@pytest.fixture(params=["fakeredis", "redis"])
def any_redis(request: pytest.FixtureRequest, namespace: str) -> Iterator[redis.Redis]:
    """The same test body on the in-process Redis and on the real server."""
    if request.param == "redis":
        yield request.getfixturevalue("real_redis")
        return
    client = make_redis(f"memory://{namespace}")
    yield client
    _drop_namespace(client, namespace)


@pytest.fixture
def producer(any_redis: redis.Redis, namespace: str) -> Producer:
    """The producer's Python API over the test's Redis and namespace."""
    return Producer(any_redis, namespace, Limits(max_rows=1000))


@pytest.fixture
def workspace(producer: Producer) -> dict[str, Any]:
    """A workspace with a dial limit of 10 and two numbers."""
    return producer.workspaces.create("acme", 10, ["+12125550100", "+14155550100"])


@pytest.fixture
def api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    """The HTTP API (in-process ASGI) over the real Redis."""
    app = create_app(real_redis, namespace, limits=Limits(max_rows=2000), max_body_bytes=1_000_000)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def make_workspace(api: TestClient) -> Callable[..., dict[str, Any]]:
    """Creates workspaces on the API's Redis; returns the `workspace create` JSON."""
    producer: Producer = api.app.state.producer  # type: ignore[attr-defined]

    def make(
        dial_limit: int = 10,
        numbers: tuple[str, ...] = ("+12125550100", "+14155550100"),
        per_number_limit: int | None = None,
    ) -> dict[str, Any]:
        return producer.workspaces.create("ws", dial_limit, list(numbers), per_number_limit)

    return make


def job_body(ws: dict[str, Any], rows: int = 3, **overrides: Any) -> dict[str, Any]:
    """A valid create body for workspace ``ws`` with ``rows`` distinct dialable numbers."""
    body: dict[str, Any] = {
        "name": "Customer Survey Campaign",
        "callAgentId": "agent-1",
        "maxConcurrentDials": 5,
        "fromPhoneNumberIds": [ws["phoneNumbers"][0]["id"]],
        "schedule": {
            "days": [
                {
                    "dayOfWeek": 1,
                    "timeSlots": [
                        {"startTime": "09:00", "endTime": "12:00"},
                        {"startTime": "13:00", "endTime": "17:00"},
                    ],
                }
            ],
            "timezone": "America/New_York",
        },
        "rows": [
            {"toNumber": f"+1212555{i:04d}", "inputs": {"customer_name": f"C{i}"}}
            for i in range(rows)
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture(autouse=True, scope="session")
def _plain_log_tracebacks() -> None:
    """Logged exceptions render as plain tracebacks in tests (rich, when installed,
    renders every frame's variables and can take seconds per exception)."""
    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
        ]
    )


def h(ws: dict[str, Any]) -> dict[str, str]:
    """The auth header of workspace ``ws`` (as `workspace create` returned it)."""
    return {"api_key": ws["apiKey"]}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """``response`` is an error of ``status`` in the SPEC shape; returns its body."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code:
        assert error["code"] == code
    return dict(error)
