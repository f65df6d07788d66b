"""Each thread's own connection for Lua scripts (:func:`evalsha`), ours (``domain/
scripts.py``, ``domain/replicas.py``) and dramatiq's dispatch script (``config/broker.py``).

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
from typing import Any

import redis
from redis.commands.core import Script
from redis.connection import ConnectionPool
from redis.exceptions import NoScriptError
from redis.sentinel import SentinelConnectionPool

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
