"""Settings of Redis Sentinel and of replicated claims (SPEC §8.6): parsing, errors that
name the variable, and the client each setting gives."""

from __future__ import annotations

import time

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from config.redis import SOCKET_TIMEOUT_S, make_redis, make_sentinel_redis, redis_for
from config.settings import load_settings
from domain.errors import ConfigError
from tests.support.procs import free_port


@pytest.mark.parametrize(
    ("env", "fragment", "variable"),
    [
        (
            {"BATCHDIAL_REDIS_SENTINELS": "s1", "BATCHDIAL_REDIS_SENTINEL_MASTER": "m"},
            "host:port pairs",
            "BATCHDIAL_REDIS_SENTINELS",
        ),
        (
            {"BATCHDIAL_REDIS_SENTINELS": "s1:0", "BATCHDIAL_REDIS_SENTINEL_MASTER": "m"},
            "1..65535",
            "BATCHDIAL_REDIS_SENTINELS",
        ),
        (
            {"BATCHDIAL_REDIS_SENTINELS": "s1:26379,:1", "BATCHDIAL_REDIS_SENTINEL_MASTER": "m"},
            "host:port pairs",
            "BATCHDIAL_REDIS_SENTINELS",
        ),
        (
            {"BATCHDIAL_REDIS_SENTINELS": "s1:26379"},
            "needs BATCHDIAL_REDIS_SENTINEL_MASTER",
            "BATCHDIAL_REDIS_SENTINELS",
        ),
        (
            {"BATCHDIAL_REDIS_SENTINEL_MASTER": "m"},
            "needs BATCHDIAL_REDIS_SENTINELS",
            "BATCHDIAL_REDIS_SENTINEL_MASTER",
        ),
        (
            {"BATCHDIAL_REDIS_SENTINELS": "s1:26379", "BATCHDIAL_REDIS_SENTINEL_MASTER": "a b"},
            "without spaces",
            "BATCHDIAL_REDIS_SENTINEL_MASTER",
        ),
        (
            {
                "BATCHDIAL_REDIS_SENTINELS": "s1:26379",
                "BATCHDIAL_REDIS_SENTINEL_MASTER": "m",
                "BATCHDIAL_REDIS_URL": "memory://x",
            },
            "memory://",
            "BATCHDIAL_REDIS_SENTINELS",
        ),
        ({"BATCHDIAL_REDIS_MIN_REPLICAS": "-1"}, "greater than or equal to 0", ""),
        ({"BATCHDIAL_REDIS_MIN_REPLICAS": "one"}, "valid integer", ""),
    ],
)
def test_bad_sentinel_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str, variable: str
) -> None:
    """A bad value, or one of the pair alone, stops start-up naming the variable."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert (variable or next(iter(env))) in str(info.value)
    assert fragment in str(info.value)


def test_sentinel_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host:port pairs (IPv6 in brackets), the master name, the replicas."""
    monkeypatch.setenv("BATCHDIAL_REDIS_SENTINELS", " s1:26379, 10.0.0.2:26380 ,[::1]:5000")
    monkeypatch.setenv("BATCHDIAL_REDIS_SENTINEL_MASTER", "batchdial")
    monkeypatch.setenv("BATCHDIAL_REDIS_MIN_REPLICAS", "1")
    settings = load_settings()
    assert settings.sentinels == (("s1", 26379), ("10.0.0.2", 26380), ("::1", 5000))
    assert settings.redis_sentinel_master == "batchdial"
    assert settings.redis_min_replicas == 1


def test_defaults_have_no_sentinel_and_no_replica_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SENTINELS", "SENTINEL_MASTER", "MIN_REPLICAS"):
        monkeypatch.delenv(f"BATCHDIAL_REDIS_{name}", raising=False)
    settings = load_settings()
    assert settings.sentinels == ()
    assert settings.redis_sentinel_master is None
    assert settings.redis_min_replicas == 0


def test_sentinel_client_takes_db_and_password_from_the_url() -> None:
    """With Sentinels, the client asks them for the master; the URL gives db and auth."""
    settings = load_settings(
        redis_url="redis://:s3cret@ignored:1/3",
        redis_sentinels="127.0.0.1:1,127.0.0.1:2",
        redis_sentinel_master="main",
    )
    client = redis_for(settings, decode=False)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "main"
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"]) == (3, "s3cret")
    assert kwargs["socket_timeout"] == SOCKET_TIMEOUT_S
    assert kwargs["health_check_interval"] > 0
    assert kwargs["socket_keepalive"] is True


def test_url_client_gives_up_on_a_silent_server_within_seconds() -> None:
    """The socket timeout bounds a command on a dead primary (it was 30 s)."""
    client = make_redis("redis://127.0.0.1:1/0")
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] <= 3
    assert kwargs["socket_connect_timeout"] <= 2
    assert client.get_retry() is not None
    assert client.get_retry().get_retries() <= 3  # type: ignore[union-attr]


def test_no_sentinel_answering_is_redis_away_within_a_second() -> None:
    """No Sentinel answers (nothing listens there): a command fails fast with a
    ConnectionError, which the API answers 503 and the workers wait out."""
    client = make_sentinel_redis(
        (("127.0.0.1", free_port()), ("127.0.0.1", free_port())), "main", "redis://x/0"
    )
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 5  # not 10 retries of each Sentinel
