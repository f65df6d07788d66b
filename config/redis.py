"""Redis connections: a real server, or an in-process one for ``memory://``.

``memory://NAME`` gives an in-process Redis (fakeredis with Lua) shared by every
client of the same NAME in this process: the embedded default of ``batchdial
demo`` and of fast unit tests. The same code paths run on both.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

_servers: dict[str, Any] = {}
_lock = threading.Lock()


def _fake_server(url: str) -> Any:
    import fakeredis  # noqa: PLC0415 -- only the embedded default needs it

    with _lock:
        server = _servers.get(url)
        if server is None:
            server = fakeredis.FakeServer(version=(7,))
            _servers[url] = server
        return server


def make_redis(url: str, *, decode: bool = True) -> redis.Redis:
    """A client for ``url``; ``decode=False`` gives bytes (the broker needs that)."""
    if url.startswith("memory://"):
        import fakeredis  # noqa: PLC0415

        client: redis.Redis = fakeredis.FakeRedis(server=_fake_server(url), decode_responses=decode)
        return client
    return redis.Redis.from_url(
        url,
        decode_responses=decode,
        health_check_interval=15,
        socket_connect_timeout=5,
        socket_timeout=30,
        retry_on_timeout=True,
    )
