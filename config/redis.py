"""Redis connections: a real server (by URL or through Sentinel), or an in-process one
for ``memory://``.

``memory://NAME`` gives an in-process Redis (fakeredis with Lua) shared by every
client of the same NAME in this process: the embedded default of ``batchdial
demo`` and of fast unit tests. The same code paths run on both.

With ``BATCHDIAL_REDIS_SENTINELS`` (SPEC §8.6) every client asks the Sentinels where
the primary is, and asks again whenever a connection fails or the server it reached
answers READONLY (a demoted primary): a failover needs no restart. The connection
options below keep a failover short (docs/failover.md, "Why dialing resumes fast"):
a command on a dead or unreachable primary fails within seconds instead of the 30 s
(socket timeout) to a minute (ten retries of a 5 s connect) it took with the
previous options, so that the engine's own retries reach the new primary at once.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

if TYPE_CHECKING:
    from config.settings import Settings

_servers: dict[str, Any] = {}
_lock = threading.Lock()

#: The longest a reply may take: longer than any script (the largest, a 100,000-row
#: cancel, takes well under a second) and than the event stream's XREAD BLOCK (1 s),
#: short enough that a primary gone silent (its host vanished: no RST comes) is given
#: up, and the connection made again, within seconds of its replacement answering.
SOCKET_TIMEOUT_S = 3.0
#: The longest a connection may take to open (a loopback or LAN Redis opens in ms).
CONNECT_TIMEOUT_S = 1.0
#: A connection idle this long is PINGed before use: a socket the failover left dead
#: is found before a command is sent on it.
HEALTH_CHECK_S = 2
#: redis-py's default retries a failed command 10 times (up to 1 s apart, each with its
#: connect timeout); three quick ones leave waiting to the callers, which wait anyway.
RETRY = Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.25), retries=3)


def _keepalive() -> dict[int, int]:
    """TCP keepalive: a peer gone without a word (host down, network cut) is noticed in
    ~8 s even on an idle connection."""
    options: dict[int, int] = {}
    for name, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            options[getattr(socket, name)] = value
    return options


def connection_options() -> dict[str, Any]:
    """The options every real client is made with (URL or Sentinel)."""
    return {
        "health_check_interval": HEALTH_CHECK_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_keepalive": True,
        "socket_keepalive_options": _keepalive(),
        "retry": RETRY,
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


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
    return redis.Redis.from_url(url, decode_responses=decode, **connection_options())


def make_sentinel_redis(
    sentinels: tuple[tuple[str, int], ...], master: str, url: str, *, decode: bool = True
) -> redis.Redis:
    """A client of the primary the ``sentinels`` know as ``master``; the db number and
    credentials come from ``url`` (its host and port are not used)."""
    parts = urlsplit(url)
    db = parts.path.lstrip("/")
    auth: dict[str, Any] = {}
    if parts.username:
        auth["username"] = unquote(parts.username)
    if parts.password:
        auth["password"] = unquote(parts.password)
    options = connection_options()
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(sentinels),
        # A Sentinel that does not answer is skipped for the next one at once (redis-py's
        # default would retry it 10 times first, at each look for the primary).
        sentinel_kwargs={
            "socket_timeout": CONNECT_TIMEOUT_S,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "retry": Retry(NoBackoff(), retries=0),
        },
        **options,
    )
    client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        master,
        redis_class=redis.Redis,
        decode_responses=decode,
        db=int(db) if db.isdigit() else 0,
        **auth,
        **options,
    )
    return client


def redis_for(settings: Settings, *, decode: bool = True) -> redis.Redis:
    """The client the settings name: through Sentinel when ``BATCHDIAL_REDIS_SENTINELS``
    is set, else ``BATCHDIAL_REDIS_URL``."""
    sentinels = settings.sentinels
    if sentinels and settings.redis_sentinel_master:
        return make_sentinel_redis(
            sentinels, settings.redis_sentinel_master, settings.redis_url, decode=decode
        )
    return make_redis(settings.redis_url, decode=decode)


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
