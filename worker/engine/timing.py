"""The durations the engine works with, and the one clock every host agrees on."""

from __future__ import annotations

from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Timing:
    """Durations the engine works with, in milliseconds (and the global dial rate)."""

    lease_ms: int = 30_000
    max_call_ms: int = 3_600_000
    #: The scheduler of an ACTIVE job runs at least this often (recovers lost messages).
    recheck_ms: int = 10_000
    #: A released row unclaimed for this long goes back to the queue: its message most
    #: likely died with a worker that had prefetched it. Taking it back early costs at
    #: most a second message for the row (the first to claim it wins; the other finds
    #: nothing), while every second it stays released holds one of the job's slots.
    stale_release_ms: int = 15_000
    #: A taken wake-up is retried after this long if its scheduler run never happened.
    wakeup_retry_ms: int = 30_000
    #: Dial starts allowed a second across all workspaces (None: no limit); the claim
    #: enforces it (``BATCHDIAL_MAX_DIALS_PER_SECOND``).
    max_dials_per_second: int | None = None
    #: Replicas that must have a claim before its call is placed, and an end before its
    #: slot is dialed into (``BATCHDIAL_REDIS_MIN_REPLICAS``, SPEC §8.6).
    min_replicas: int = 0


def redis_now_ms(client: redis.Redis) -> int:
    """Redis's clock, the one every host agrees on (ms since the epoch)."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000
