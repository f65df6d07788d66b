"""Writes that must be on replicas before what they allow goes ahead (SPEC §8.6,
``BATCHDIAL_REDIS_MIN_REPLICAS``; docs/failover.md).

Redis replicates asynchronously: a claim the primary acknowledged can be lost at a
failover before a replica has it, and the promoted replica would then dial the row
again while its first call rings. With ``min_replicas`` > 0 a claim runs in one
pipeline with ``WAIT min_replicas REPLICA_WAIT_MS`` on the same connection (``WAIT``
counts the acknowledgements of that connection's writes, so it must share it), and
its call is placed only once enough replicas acknowledged it. An end does the same
before its freed slot is dialed into by this process; a slot another process claims
meanwhile is safe too: its claim's ``WAIT`` covers every write before it, the end
included (a replica applies the primary's writes in order).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from domain.lanes import evalsha
from domain.metrics import REPLICA_WAITS_FAILED

#: How long a claim or an end waits for its replicas before it is given up (ms). A
#: healthy replica acknowledges within a millisecond or two on a LAN; this is far
#: below the socket timeout (config/redis.py), so a WAIT never looks like a dead server.
REPLICA_WAIT_MS = 1000


class ReplicaWaitError(redis.ConnectionError):
    """Fewer replicas than required acknowledged a write within REPLICA_WAIT_MS.

    A :class:`redis.ConnectionError`, so that everything treats it as Redis away: the
    API answers 503 (a carrier retries its callback), a worker defers an end and
    retries it. ``reply`` is what the script answered on the primary.
    """

    def __init__(self, what: str, acked: int, wanted: int, reply: Any) -> None:
        super().__init__(
            f"{what}: {acked} of {wanted} replicas acknowledged it within {REPLICA_WAIT_MS} ms"
        )
        self.what = what
        self.acked = acked
        self.wanted = wanted
        self.reply = reply


def run_durable(
    client: redis.Redis,
    script: Script,
    keys: list[str],
    args: list[Any],
    *,
    write: str,
    replicas: int,
) -> Any:
    """Run ``script`` and, when ``replicas`` > 0, WAIT on the same connection for that
    many replicas (``write``: ``claim`` or ``end``, the metric's label); returns the
    script's reply or raises :class:`ReplicaWaitError`."""
    if replicas <= 0:
        return evalsha(client, script, keys, args)
    for _ in range(2):
        with client.pipeline(transaction=False) as pipe:
            script(keys=keys, args=args, client=pipe)
            pipe.wait(replicas, REPLICA_WAIT_MS)
            reply, acked = pipe.execute(raise_on_error=False)
        if not isinstance(reply, NoScriptError):
            break
        # The pipeline checked the script on one primary and ran on the next (it
        # reconnected in between, a failover): nothing ran. Load it there and run again.
        client.script_load(script.script)
    if isinstance(reply, Exception):
        raise reply
    if isinstance(acked, Exception):  # a server (or proxy) that refuses WAIT: none acked
        acked = 0
    if int(acked) < replicas:
        REPLICA_WAITS_FAILED.labels(write).inc()
        raise ReplicaWaitError(write, int(acked), replicas, reply)
    return reply
