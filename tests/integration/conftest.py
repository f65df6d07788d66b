"""Fixtures of the integration suite: the engine rig on fakeredis and on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.engine import Rig, rig_on
from tests.support.redis_server import REDIS_URL


@pytest.fixture
def rig(any_redis: redis.Redis, namespace: str, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A rig on fakeredis and, in a second run, on the real Redis."""
    backend = request.node.callspec.params.get("any_redis")
    url = f"memory://{namespace}" if backend == "fakeredis" else REDIS_URL
    yield from rig_on(any_redis, url, namespace)


@pytest.fixture
def real_rig(real_redis: redis.Redis, namespace: str) -> Iterator[Rig]:
    """A rig on the real Redis only (for figures fakeredis is too slow to show)."""
    yield from rig_on(real_redis, REDIS_URL, namespace)
