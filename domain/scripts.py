"""Loads the Lua scripts of ``domain/lua``: ``job/`` (a job's and a dial's state changes,
run by the API and the workers) and ``engine/`` (the workers' scheduler, claims, leases
and timers). Scripts whose header says ``-- uses: _lib.lua`` get the key names
(:func:`domain.keys.lua_prelude`) and ``lua/_lib.lua`` prepended. What each script
answers is parsed in :mod:`domain.protocol`.

A script is sent on the calling thread's own connection (:func:`_lane`): EVALSHA
written and its reply read straight on the socket, not through ``Redis.execute_command``
(the pool's lock, its liveness poll, the retry wrapper and redis-py's own bookkeeping).
Measured on this machine (2026-12-04, loopback Redis, one thread): 103 us of client CPU
per script call that way against 52-58 us on the connection itself, and a dial runs two
scripts in the worker and one in the API. Anything but a reply or the script's own error
(NOSCRIPT, a broken or timed-out connection, a replica that refuses writes) drops that
connection and runs the script the usual way, which loads it or reconnects and retries as
before. The embedded default (fakeredis) and a Redis found through Sentinel always go the
usual way."""

from __future__ import annotations

import os
import threading
import weakref
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import redis
from redis.commands.core import Script
from redis.connection import ConnectionPool
from redis.exceptions import NoScriptError
from redis.sentinel import SentinelConnectionPool

from domain.keys import lua_prelude
from domain.replicas import run_durable

#: The folders of ``domain/lua`` that hold scripts.
Folder = Literal["job", "engine"]


@cache
def script_source(name: str, folder: Folder = "job") -> str:
    """The text of ``domain/lua/<folder>/<name>.lua``, after the key names and
    ``_lib.lua`` if it uses them."""
    lua = files("domain").joinpath("lua")
    body = lua.joinpath(folder).joinpath(f"{name}.lua").read_text(encoding="utf-8")
    if "-- uses: _lib.lua" not in body:
        return body
    lib = lua.joinpath("_lib.lua").read_text(encoding="utf-8")
    return f"{lua_prelude()}{lib}\n{body}"


_lanes_lock = threading.Lock()
#: Each pool's threads' own connections (see the module's text): made by the pool (its
#: address, Sentinel, timeouts, health check) but not lent by it; a thread's closes when
#: the thread or the pool is gone.
_lanes: weakref.WeakKeyDictionary[ConnectionPool, threading.local] = weakref.WeakKeyDictionary()


def _lane(client: redis.Redis) -> Any:
    """The calling thread's own connection to ``client``'s server (a redis-py
    ``Connection``, whose methods are untyped), or None: fakeredis, and a pool that
    follows a Sentinel's primary (it drops its idle connections when the primary moves;
    a lane outside it would stay on the old one, now a replica, and read from it)."""
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool) or pool.connection_class.__module__.startswith(
        "fakeredis"
    ):
        return None
    local = _lanes.get(pool)
    if local is None:
        with _lanes_lock:
            local = _lanes.setdefault(pool, threading.local())
    conn = getattr(local, "conn", None)
    if conn is None or getattr(local, "pid", None) != os.getpid():
        conn = pool.make_connection()
        local.conn, local.pid = conn, os.getpid()
    return conn


def evalsha(client: redis.Redis, script: Script, keys: list[str], args: list[Any]) -> Any:
    """Run ``script`` on the thread's own connection; the usual way if that fails short of
    a reply (the script's own errors are its reply)."""
    conn = _lane(client)
    if conn is not None:
        try:
            conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
            return conn.read_response()
        except NoScriptError:
            pass  # a server that never saw it: redis-py loads it and runs it
        except redis.ResponseError:
            raise
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            conn.disconnect()  # the usual way reconnects (and retries) as it always did
        except BaseException:
            conn.disconnect()  # a reply half read must not be read by the next call
            raise
    return script(keys=keys, args=args)


class Scripts:
    """The scripts of one folder registered on one Redis client (EVALSHA, loaded on
    demand)."""

    def __init__(self, client: redis.Redis, folder: Folder = "job") -> None:
        self._client = client
        self._folder: Folder = folder
        self._scripts: dict[str, Script] = {}

    def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` with ``keys`` and ``args``; returns its raw reply.

        redis-py runs it by EVALSHA and loads it again on NOSCRIPT: a promoted replica
        (or a restarted server) that never saw the script runs it all the same."""
        return evalsha(self._client, self._script(name), keys, args)

    def durable(
        self, name: str, keys: list[str], args: list[Any], *, write: str, replicas: int
    ) -> Any:
        """Run script ``name``, then WAIT for ``replicas`` replicas to have it
        (:func:`domain.replicas.run_durable`; ``write`` names it in the metrics)."""
        return run_durable(
            self._client, self._script(name), keys, args, write=write, replicas=replicas
        )

    def _script(self, name: str) -> Script:
        script = self._scripts.get(name)
        if script is None:
            script = self._client.register_script(script_source(name, self._folder))
            self._scripts[name] = script
        return script
