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


class WrongRedisClient(TypeError):
    """Raised when a producer is given something it cannot use as its Redis client."""


_ACCEPTED = (
    "pass a synchronous redis client, e.g. redis.Redis.from_url(url) "
    "(decode_responses=True or False: both work)"
)


def decoding(client: object) -> redis.Redis:
    """``client`` itself if it answers ``str``; otherwise a client over the same server and
    settings that does (``decode_responses=True``): the producer reads strings.

    Refuses (:class:`WrongRedisClient`, saying what to pass) an asyncio client, or one whose
    connections cannot be re-made with decoding on (a Sentinel or cluster client given
    with ``decode_responses=False``).
    """
    if not isinstance(client, redis.Redis):
        kind = f"{type(client).__module__}.{type(client).__qualname__}"
        hint = " (an asyncio client)" if "asyncio" in kind else ""
        raise WrongRedisClient(f"got {kind}{hint}: {_ACCEPTED}")
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    if kwargs.get("decode_responses"):
        return client
    if type(pool) is not redis.ConnectionPool:
        raise WrongRedisClient(
            f"got a client with decode_responses=False over a {type(pool).__name__}: "
            "pass one made with decode_responses=True"
        )
    kwargs["decode_responses"] = True
    decoded_pool = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    return type(client)(connection_pool=decoded_pool)
