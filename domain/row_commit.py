"""Carrying an upload's commit to its end (issue 17).

``commit_rows.lua`` begins a commit once every row of an upload was read, checked and
staged; ``commit_step.lua`` then takes :data:`STEP_ROWS` rows into the job per call, so
that no single script holds Redis for long (a million rows at ~10 µs each in one script
held it for over ten seconds; Redis answers every other client BUSY after five). A
begun commit only goes forward: every step is atomic and moves the commit's shared
cursor, so any number of drivers may run the same commit at once. The request that
began it drives it; an upload that finds the job's commit under way helps it to the end
first; and a commit whose driver died (its lease, renewed by every step, lapsed) is
taken up by any worker's timer (:func:`resume_lapsed`). So a commit is never left
half-done, and a job does not complete while one is under way.
"""

from __future__ import annotations

import time
from typing import cast

import redis

from domain.keys import Keys
from domain.protocol_rows import RowsCommitted, parse_commit_rows
from domain.scripts import Scripts

#: Rows one step takes into the job (a 1M-row append: 500 steps of ~25 ms, docs/rows.md).
STEP_ROWS = 2_000
#: A commit whose steps stopped this long ago is taken up by another driver (ms).
LEASE_MS = 15_000


def drive(scripts: Scripts, keys: Keys, ws_id: str, job_id: str, upload_id: str) -> RowsCommitted:
    """Run the steps of a begun commit until its end; its result (``gone``: no such
    commit, e.g. its result was read over an hour after its end)."""
    args = [upload_id, STEP_ROWS, LEASE_MS]
    while True:
        result = parse_commit_rows(scripts("commit_step", keys.script_keys(ws_id, job_id), args))
        if result.outcome != "step":
            return result


class CommitResumer:
    """Takes up the commits whose driver stopped (a worker timer step, at most once a
    second per process: one ZRANGEBYSCORE when there is none)."""

    def __init__(self, client: redis.Redis, keys: Keys, every_s: float = 1.0) -> None:
        self._r = client
        self._keys = keys
        self._scripts = Scripts(client)
        self._every_s = every_s
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < self._every_s:
            return
        self._last = now
        self.resume_lapsed()

    def resume_lapsed(self, limit: int = 10) -> int:
        """Drive every commit whose lease lapsed to its end; returns how many."""
        sec, micro = self._r.time()
        now_ms = sec * 1000 + micro // 1000
        key = self._keys.ns_key("K_COMMITS")
        members = cast(list[str], self._r.zrangebyscore(key, "-inf", now_ms, start=0, num=limit))
        for member in members:
            ws_id, job_id, upload_id = member.split("|")
            result = drive(self._scripts, self._keys, ws_id, job_id, upload_id)
            if result.outcome == "gone":
                self._r.zrem(key, member)
        return len(members)
