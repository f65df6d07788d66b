"""Leases of the dials that live in this process: renewed while the call lasts.

A lease is a member of three sorted sets (job, workspace, pool number) scored by its
expiry in Redis time. This process renews the leases of the calls it holds; if it
dies, they lapse within the lease time and the reaper ends those dials as failed.
"""

from __future__ import annotations

import threading
from collections import Counter

import redis

from domain.dials import DialRef
from domain.keys import Keys
from domain.members import dial_member
from domain.protocol import HandoffOutcome, NotRenewed, parse_handoff, parse_renew
from domain.scripts import Scripts

#: Dials renewed per script call.
RENEW_BATCH = 200


class LeaseKeeper:
    """Tracks the dials this process holds and renews their leases."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        lease_ms: int,
        max_call_ms: int,
        *,
        min_replicas: int = 0,
    ) -> None:
        self._r = client
        self._k = keys
        self.lease_ms = lease_ms
        self.max_call_ms = max_call_ms
        self.min_replicas = min_replicas
        self._scripts = Scripts(client, "engine")
        self._held: dict[str, DialRef] = {}
        self._per_job: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hold(self, ref: DialRef) -> None:
        """Start renewing ``ref``'s leases."""
        with self._lock:
            if ref.dial_id not in self._held:
                self._per_job[ref.job_id] += 1
            self._held[ref.dial_id] = ref

    def forget(self, dial_id: str) -> None:
        """Stop renewing (the dial ended, or the provider holds it now)."""
        with self._lock:
            ref = self._held.pop(dial_id, None)
            if ref is not None:
                self._per_job[ref.job_id] -= 1
                if self._per_job[ref.job_id] <= 0:
                    del self._per_job[ref.job_id]

    def held_for(self, job_id: str) -> int:
        """How many calls of one job this process holds now."""
        with self._lock:
            return self._per_job[job_id]

    def held(self) -> list[DialRef]:
        """The dials held now."""
        with self._lock:
            return list(self._held.values())

    def handoff(self, ref: DialRef) -> HandoffOutcome:
        """The provider holds the call now: its leases last until the longest allowed
        call. Returns 'handed', 'ended' (its end was already reported) or 'lost' (its
        lease lapsed first; the caller ends it)."""
        keys = [self._k.deadlines, *self._dial_keys(ref)]
        args = [dial_member(ref.ws_id, ref.job_id, ref.dial_id), ref.dial_id, self.max_call_ms]
        if self.min_replicas <= 0:
            outcome = parse_handoff(self._scripts("handoff", keys, args)).outcome
        else:
            try:
                outcome = parse_handoff(
                    self._scripts.durable(
                        "handoff", keys, args, write="handoff", replicas=self.min_replicas
                    )
                ).outcome
            except (redis.ConnectionError, redis.TimeoutError):
                # Not known to be on a replica (SPEC §8.6): a failover may lose it, and
                # the next primary would let the claim's lease lapse while the call goes
                # on (its slot freed early). Keep renewing it: renew.lua reports it
                # 'ended' (and it is forgotten) once the primary says the provider has it.
                return "handed"
        if outcome != "lost":
            self.forget(ref.dial_id)
        return outcome

    def renew(self) -> dict[NotRenewed, list[DialRef]]:
        """Renew every held lease. Returns the dials not renewed, by why: 'ended'
        (elsewhere), 'lost' (the lease lapsed), 'overdue' (past the longest call)."""
        refs = self.held()
        by_id = {ref.dial_id: ref for ref in refs}
        reports: dict[NotRenewed, list[DialRef]] = {"ended": [], "lost": [], "overdue": []}
        for start in range(0, len(refs), RENEW_BATCH):
            batch = refs[start : start + RENEW_BATCH]
            keys = [self._k.deadlines]
            args: list[object] = [self.lease_ms, self.max_call_ms]
            for ref in batch:
                keys += self._dial_keys(ref)
                args += [dial_member(ref.ws_id, ref.job_id, ref.dial_id), ref.dial_id]
            for why, dial_id in parse_renew(self._scripts("renew", keys, args)).not_renewed:
                reports[why].append(by_id[dial_id])
        for ref in reports["ended"]:
            self.forget(ref.dial_id)
        return reports

    def _dial_keys(self, ref: DialRef) -> list[str]:
        return [
            self._k.job_sem(ref.ws_id, ref.job_id),
            self._k.ws_sem(ref.ws_id),
            self._k.number_sem(ref.ws_id, ref.number_id),
            self._k.dial(ref.ws_id, ref.dial_id),
        ]
