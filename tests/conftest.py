"""Shared fixtures: a real Redis (or fakeredis) under a namespace of the test's own, the
in-process API, and the factory of real process stacks. Helpers live in tests/support."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from config.redis import make_redis
from producer.http.app import create_app
from producer.service import Producer
from producer.validation import Limits
from tests.support.redis_server import REDIS_URL, drop_namespace, fail_in_ci_else_skip
from tests.support.stack import StackFactory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``nightly`` (long soaks) run only with BATCHDIAL_NIGHTLY=1."""
    if os.environ.get("BATCHDIAL_NIGHTLY") == "1":
        return
    skip = pytest.mark.skip(reason="nightly soak: set BATCHDIAL_NIGHTLY=1 to run it")
    for item in items:
        if item.get_closest_marker("nightly") is not None:
            item.add_marker(skip)


def _real_redis_or_skip() -> redis.Redis:
    client = make_redis(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        fail_in_ci_else_skip(
            f"no Redis answers at {REDIS_URL} ({type(exc).__name__}); scripts/test starts one"
        )
    return client


@pytest.fixture
def namespace() -> str:
    """A namespace no other test (or deployment) uses."""
    return f"bdtest-{secrets.token_hex(6)}"


@pytest.fixture
def real_redis(namespace: str) -> Iterator[redis.Redis]:
    """A client of the real Redis; the test's namespace is dropped before and after."""
    client = _real_redis_or_skip()
    drop_namespace(client, namespace)
    yield client
    drop_namespace(client, namespace)
    client.close()


@pytest.fixture(params=["fakeredis", "redis"])
def any_redis(request: pytest.FixtureRequest, namespace: str) -> Iterator[redis.Redis]:
    """The same test body on the in-process Redis and on the real server."""
    if request.param == "redis":
        yield request.getfixturevalue("real_redis")
        return
    client = make_redis(f"memory://{namespace}")
    yield client
    drop_namespace(client, namespace)


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


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """Starts real process stacks (API + workers + a workspace + a client; see
    :class:`tests.support.stack.Stack`), logging into ``tmp_path``; whatever is still
    running when the test ends is stopped."""
    factory = StackFactory(tmp_path)
    yield factory
    factory.close()
