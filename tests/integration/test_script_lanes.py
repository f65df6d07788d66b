"""Scripts run on each thread's own connection (``domain/scripts.py``): the same replies
as the usual way, and the usual way whenever that connection cannot give one (a script
the server never saw, a connection killed under it, the embedded Redis)."""

from __future__ import annotations

import secrets
import threading

import fakeredis
import pytest
import redis
from redis.commands.core import Script
from redis.sentinel import Sentinel

from domain import lanes as scripts_module
from domain.scripts import Scripts

pytestmark = [pytest.mark.redis]


def _scripts_of(client: redis.Redis, body: str) -> tuple[Scripts, str]:
    """A Scripts whose one script (named ``t``) is ``body``, made unique by a comment so
    that no server has seen it yet (no SCRIPT FLUSH on a shared server)."""
    name = "t"
    scripts = Scripts(client)
    scripts._scripts[name] = client.register_script(f"-- {secrets.token_hex(8)}\n{body}")
    return scripts, name


def _lane_id(client: redis.Redis) -> int:
    lane = scripts_module._lane(client)
    lane.send_command("CLIENT", "ID")
    return int(lane.read_response())


@pytest.fixture
def usual(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every script run the usual way (redis-py's ``Script.__call__``), by its args."""
    calls: list[str] = []
    original = Script.__call__

    def counted(self: Script, keys: list[str], args: list[str], **kw: object) -> object:
        calls.append(",".join(args))
        return original(self, keys=keys, args=args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Script, "__call__", counted)
    return calls


def _last_command(client: redis.Redis, client_id: int) -> str:
    (entry,) = client.client_list(client_id=[client_id])
    return str(entry["cmd"])


def test_a_script_runs_on_the_threads_own_connection(
    real_redis: redis.Redis, usual: list[str]
) -> None:
    scripts, name = _scripts_of(real_redis, "return {KEYS[1], ARGV[1]}")
    # First call: the server never saw it (NOSCRIPT), so the usual way loads and runs it.
    assert scripts(name, ["k"], ["a"]) == ["k", "a"]
    assert usual == ["a"]
    # From then on: on this thread's lane, the same connection each time.
    lane = _lane_id(real_redis)
    assert scripts(name, ["k"], ["b"]) == ["k", "b"]
    assert _last_command(real_redis, lane) == "evalsha"
    assert scripts(name, ["k"], ["c"]) == ["k", "c"]
    assert usual == ["a"] and _lane_id(real_redis) == lane
    # Another thread has a lane of its own.
    other: list[int] = []

    def run() -> None:
        scripts(name, ["k"], ["d"])
        other.append(_lane_id(real_redis))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert other and other[0] != lane and usual == ["a"]


def test_a_write_no_replica_must_acknowledge_runs_on_the_lane(
    real_redis: redis.Redis, usual: list[str]
) -> None:
    """The claim and the end (``Scripts.durable``) with BATCHDIAL_REDIS_MIN_REPLICAS 0:
    on the lane as well, the hottest scripts of all."""
    scripts, name = _scripts_of(real_redis, "return ARGV[1]")
    scripts(name, [], ["load"])
    lane = _lane_id(real_redis)
    assert scripts.durable(name, [], ["claim"], write="claim", replicas=0) == "claim"
    assert usual == ["load"] and _last_command(real_redis, lane) == "evalsha"


def test_a_killed_lane_falls_back_and_is_made_again(
    real_redis: redis.Redis, usual: list[str]
) -> None:
    scripts, name = _scripts_of(real_redis, "return ARGV[1]")
    scripts(name, [], ["load"])
    lane = _lane_id(real_redis)
    real_redis.client_kill_filter(_id=str(lane))
    # The dead socket fails the lane: the usual way runs it, once.
    assert scripts(name, [], ["after-kill"]) == "after-kill"
    assert usual == ["load", "after-kill"]
    # The next call connects the lane again.
    assert scripts(name, [], ["again"]) == "again"
    assert usual == ["load", "after-kill"]
    assert _lane_id(real_redis) != lane


def test_a_scripts_own_error_is_raised_and_the_lane_goes_on(
    real_redis: redis.Redis, usual: list[str]
) -> None:
    scripts, name = _scripts_of(
        real_redis,
        "if ARGV[1] == 'bad' then return redis.error_reply('ERR no good') end return ARGV[1]",
    )
    scripts(name, [], ["ok"])
    with pytest.raises(redis.ResponseError, match="no good"):
        scripts(name, [], ["bad"])
    assert scripts(name, [], ["fine"]) == "fine"
    assert usual == ["ok"]  # the error was the lane's reply, not a reason to go round


def test_the_embedded_redis_goes_the_usual_way(usual: list[str]) -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    assert scripts_module._lane(client) is None
    scripts, name = _scripts_of(client, "return ARGV[1]")
    assert scripts(name, [], ["x"]) == "x"
    assert usual == ["x"]


def test_a_redis_found_through_sentinel_goes_the_usual_way() -> None:
    """Its pool drops idle connections when the primary moves; a lane would not."""
    sentinel = Sentinel([("127.0.0.1", 1)])  # type: ignore[no-untyped-call]
    client = sentinel.master_for("nobody")  # type: ignore[no-untyped-call]  # lazy
    assert scripts_module._lane(client) is None
