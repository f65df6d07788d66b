"""This process's heartbeat: it says it is alive and learns how many worker processes
are, so that each takes its fair share of a job's calls (see
:meth:`worker.engine.dialing.Dialing.over_share`)."""

from __future__ import annotations

import secrets

import redis

from domain.keys import Keys
from domain.protocol import parse_heartbeat
from domain.scripts import Scripts

#: A worker process that has not said it is alive for this long no longer counts.
WORKER_SILENCE_MS = 10_000


class Heartbeat:
    """This process among the live worker processes (``heartbeat.lua``)."""

    def __init__(self, client: redis.Redis, keys: Keys, *, counted: bool = True) -> None:
        self._r = client
        self._k = keys
        self._scripts = Scripts(client, "engine")
        self.process_id = secrets.token_hex(8)
        #: Whether this process counts among those sharing calls: one that consumes no
        #: dial messages (``batchdial worker --queues webhooks``) would only shrink the
        #: others' fair share.
        self.counted = counted
        #: Live worker processes at the last beat (1 until the first).
        self.workers = 1

    def beat(self) -> int:
        """Say this process is alive; returns how many worker processes are."""
        if not self.counted:
            return self.workers
        alive = parse_heartbeat(
            self._scripts("heartbeat", [self._k.workers], [self.process_id, WORKER_SILENCE_MS])
        ).alive
        self.workers = max(1, alive)
        return self.workers

    def leave(self) -> None:
        """This process stops: it no longer counts among the workers."""
        self._r.zrem(self._k.workers, self.process_id)
