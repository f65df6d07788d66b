"""Loads Lua scripts; those whose header says ``-- uses: _lib.lua`` get the key names
(:func:`domain.keys.lua_prelude`) and ``_lib.lua`` prepended."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import redis
from redis.commands.core import Script

from domain.keys import lua_prelude


@cache
def script_source(name: str, package: str = "domain") -> str:
    """The text of ``<package>/lua/<name>.lua``, after the key names and domain's
    ``_lib.lua`` if it uses them."""
    body = files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    if "-- uses: _lib.lua" not in body:
        return body
    lib = files("domain").joinpath("lua", "_lib.lua").read_text(encoding="utf-8")
    return f"{lua_prelude()}{lib}\n{body}"


class Scripts:
    """The state scripts registered on one Redis client (EVALSHA, loaded on demand)."""

    def __init__(self, client: redis.Redis, package: str = "domain") -> None:
        self._client = client
        self._package = package
        self._scripts: dict[str, Script] = {}

    def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` with ``keys`` and ``args``."""
        script = self._scripts.get(name)
        if script is None:
            script = self._client.register_script(script_source(name, self._package))
            self._scripts[name] = script
        return script(keys=keys, args=args)
