"""Loads the Lua scripts of ``domain/lua``: ``job/`` (a job's and a dial's state changes,
run by the API and the workers) and ``engine/`` (the workers' scheduler, claims, leases
and timers). Scripts whose header says ``-- uses: _lib.lua`` get the key names
(:func:`domain.keys.lua_prelude`) and ``lua/_lib.lua`` prepended. What each script
answers is parsed in :mod:`domain.protocol`.

Each script runs by :func:`domain.lanes.evalsha`, on the calling thread's own
connection."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any, Literal

import redis
from redis.commands.core import Script

from domain.keys import lua_prelude
from domain.lanes import evalsha
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
