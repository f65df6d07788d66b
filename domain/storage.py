"""Redis at its ``maxmemory`` limit (policy ``noeviction``): how to tell, and how to read.

Over the limit Redis refuses every command that may grow memory (``-OOM command not
allowed when used memory > 'maxmemory'``), and, inside MULTI, *every* queued command, a
read included. Reads that want one consistent snapshot therefore go through
:func:`snapshot`: MULTI/EXEC normally, and the same commands as a plain pipeline when
Redis refuses the transaction for memory. A refused write changes nothing: a refused
MULTI runs none of its commands, and a Lua script is refused at its first write only
(Redis never stops a script in the middle of its writes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

#: At or above this share of ``maxmemory`` the store counts as full. Right after a
#: refused write Redis sits a little under the limit (the refused request's buffers are
#: freed), yet the next write of any size is refused again.
FULL_RATIO = 0.98

#: What Redis answers a refused write with (redis-py strips the ``OOM`` prefix; Redis 6
#: wraps it in ``Error running script`` when a script met it).
_OOM_TEXT = "command not allowed when used memory > 'maxmemory'"


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing a write because it is at ``maxmemory``: a
    command, a pipeline's or MULTI's command, or a write inside a Lua script."""
    if isinstance(exc, redis.OutOfMemoryError):
        return True
    return isinstance(exc, redis.ResponseError) and _OOM_TEXT in str(exc)


@dataclass(frozen=True)
class MemoryUse:
    """Redis memory as ``maxmemory`` counts it (``used_memory`` less the buffers that
    ``mem_not_counted_for_evict`` names, such as the AOF buffer)."""

    used: int
    limit: int  # 0: no maxmemory

    @property
    def ratio(self) -> float | None:
        """``used / limit``; None without a limit."""
        return self.used / self.limit if self.limit else None

    @property
    def full(self) -> bool:
        """Writes are refused, or about to be."""
        ratio = self.ratio
        return ratio is not None and ratio >= FULL_RATIO

    def describe(self) -> str:
        """``used_memory X of maxmemory Y (Z%)`` for messages."""
        if not self.limit:
            return f"used_memory {self.used} bytes, no maxmemory"
        return f"used_memory {self.used} of maxmemory {self.limit} bytes ({self.ratio:.0%})"


def memory_use(info: Mapping[str, Any]) -> MemoryUse:
    """The :class:`MemoryUse` of an ``INFO memory`` answer."""
    used = int(info.get("used_memory", 0)) - int(info.get("mem_not_counted_for_evict", 0))
    return MemoryUse(max(0, used), int(info.get("maxmemory", 0)))


def read_memory(client: redis.Redis) -> MemoryUse | None:
    """Redis' :class:`MemoryUse` now; None when it does not answer ``INFO`` (an ACL
    forbids it, or an in-process Redis without it). Connection errors propagate."""
    try:
        info = client.info("memory")
    except redis.ResponseError:
        return None
    return memory_use(info)


def snapshot(client: redis.Redis, queue: Callable[[Pipeline], object]) -> list[Any]:
    """The answers of the read commands ``queue`` adds to a pipeline, run in MULTI/EXEC
    (one consistent view); when Redis refuses MULTI for memory, run as a plain pipeline
    (each command sees the store at its own moment), so that reads keep working."""
    try:
        with client.pipeline(transaction=True) as pipe:
            queue(pipe)
            return list(pipe.execute())
    except redis.ResponseError as exc:
        if not is_storage_full(exc):
            raise
    with client.pipeline(transaction=False) as pipe:
        queue(pipe)
        return list(pipe.execute())
