"""The claim, made safe for a failover (SPEC §8.6, docs/failover.md).

:meth:`DurableClaims.claim` runs ``claim.lua`` and, with ``BATCHDIAL_REDIS_MIN_REPLICAS``
> 0, ``WAIT`` on the same connection (:func:`domain.replicas.run_durable`). A call is
placed only for a claim this returns as taken, so only once enough replicas have it.

What a claim that is not known to be safe does: **it is undone, its row goes back, and
no call is placed.** That is so when too few replicas acknowledged it in time
(:class:`~domain.replicas.ReplicaWaitError`), when the connection failed before its
answer came (the primary died: the claim may or may not be on the primary that comes
next), and when redis-py sent it again after such a failure and the second found the
row ``gone`` (taken by the first). The dial is found by its row (the job's ``dialing``
hash names the dial id, which ends in this claim's random token) and put back
(``put_back.lua``: slots freed, the row held ``PUT_BACK_MS`` and dialed again as the
same attempt, no failed dial counted). The put-back is retried until Redis answers,
for up to half a lease: past that the dial's lease lapses and the reaper ends it as
``failed`` (never redialed blindly), the worst case, which the logs name
(``claim_undo_gave_up``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import redis
import structlog

from domain.dials import DialEnds, DialRef
from domain.keys import Keys
from domain.protocol import Claimed, ClaimRefused, parse_claim
from domain.replicas import ReplicaWaitError
from domain.scripts import Scripts

log = structlog.get_logger(__name__)

#: How long a claim undone for its replicas keeps its row before dialing it again (ms).
PUT_BACK_MS = 1000
#: Between two tries of undoing a claim while Redis is away (s).
UNDO_RETRY_S = 0.2


class DurableClaims:
    """Claims that are on ``min_replicas`` replicas, or undone."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        ends: DialEnds,
        min_replicas: int,
        lease_ms: int,
        *,
        resend: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._ends = ends
        #: Sends a row's dial message again (the outbox's send_dial).
        self._resend = resend
        self._scripts = Scripts(client, "engine")
        self.min_replicas = min_replicas
        self._undo_s = lease_ms / 2000

    def claim(
        self, ws_id: str, job_id: str, index: int, *, token: str, keys: list[str], args: list[Any]
    ) -> Claimed | ClaimRefused:
        """Run the claim (``token``: the random end of its dial id template)."""
        safe = True
        try:
            raw = self._scripts.durable(
                "claim", keys, args, write="claim", replicas=self.min_replicas
            )
        except ReplicaWaitError as exc:
            raw, safe = exc.reply, False
        except (redis.ConnectionError, redis.TimeoutError):
            # The answer is lost: whether the claim happened is unknown. Undo it if it did.
            log.warning("claim_answer_lost", job_id=job_id, index=index)
            self._undo(ws_id, job_id, index, token)
            return ClaimRefused("unreplicated")
        claim = parse_claim(raw)
        if claim.outcome == "gone" and self._ours(ws_id, job_id, index, token):
            # redis-py sent the claim again after a lost answer (it retries on a
            # connection error): the first one took the row, this one found it gone.
            log.warning("claim_answer_lost", job_id=job_id, index=index, resent=True)
            self._undo(ws_id, job_id, index, token)
            return ClaimRefused("unreplicated")
        if not safe:
            if isinstance(claim, Claimed):
                log.warning("claim_not_replicated", dial_id=claim.dial_id)
                self._undo(ws_id, job_id, index, token)
            return ClaimRefused("unreplicated")
        return claim

    def _ours(self, ws_id: str, job_id: str, index: int, token: str) -> bool:
        """Whether row ``index`` is being dialed by this claim (its token)."""
        try:
            dial_id = cast(str | None, self._r.hget(self._k.dialing(ws_id, job_id), str(index)))
        except redis.RedisError:
            return True  # unknown: the undo finds out, once Redis answers
        return dial_id is not None and dial_id.endswith(f"_{token}")

    def _undo(self, ws_id: str, job_id: str, index: int, token: str) -> None:
        deadline = time.monotonic() + self._undo_s
        while True:
            try:
                outcome = self._undo_once(ws_id, job_id, index, token)
                log.info("claim_undone", job_id=job_id, index=index, outcome=outcome)
                if outcome == "not_claimed" and self._resend is not None:
                    # The claim never reached this primary, nor did its call leave: the
                    # row may wait released here with no message (it went with the
                    # old primary). A new one dials it now, not after the stale-row
                    # recovery; if the row is not released, that claim finds it gone.
                    self._resend(ws_id, job_id, index)
                return
            except redis.RedisError as exc:
                if time.monotonic() >= deadline:
                    log.error(
                        "claim_undo_gave_up", job_id=job_id, index=index, error=type(exc).__name__
                    )
                    return
                time.sleep(UNDO_RETRY_S)

    def _undo_once(self, ws_id: str, job_id: str, index: int, token: str) -> str:
        dial_id = cast(str | None, self._r.hget(self._k.dialing(ws_id, job_id), str(index)))
        if dial_id is None or not dial_id.endswith(f"_{token}"):
            return "not_claimed"  # the claim never was (or is not) on this primary
        number_id = cast(str | None, self._r.hget(self._k.dial(ws_id, dial_id), "fromNumberId"))
        ref = DialRef(ws_id, job_id, dial_id, number_id or "")
        # A put-back must itself be on the replicas before the row is claimed again; the
        # next claim's WAIT covers it (replicas apply writes in order).
        return self._ends.put_back(ref, PUT_BACK_MS, reason="replica_wait")
