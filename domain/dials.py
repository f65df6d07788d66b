"""Ending a dial: shared by the worker (simulated ends, provider answers, the reaper)
and by the API (provider status callbacks)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis
import structlog

from domain.keys import Keys
from domain.members import dial_member, job_member, split_dial_member
from domain.metrics import LEASE_RECOVERIES, observe_end
from domain.protocol import (
    FinishResult,
    PutBackOutcome,
    parse_dial_status,
    parse_finish_dial,
    parse_put_back,
)
from domain.provider_details import MAX_DETAILS_BYTES, encode
from domain.scripts import Scripts

log = structlog.get_logger(__name__)

__all__ = [
    "CARRIER_CALL_TTL_S",
    "LIVE_STATUSES",
    "RETRYABLE_STATUSES",
    "TERMINAL_STATUSES",
    "DialEnds",
    "DialRef",
    "FinishResult",
    "new_dial_id",
    "parse_dial_id",
]

#: Dial statuses that end a dial.
TERMINAL_STATUSES = frozenset(
    {"completed", "busy", "no-answer", "failed", "canceled", "voicemail", "opted-out"}
)
#: Statuses a retry policy may name (``opted-out`` never retries: the number is suppressed).
RETRYABLE_STATUSES = TERMINAL_STATUSES - {"completed", "opted-out"}
#: Statuses a dial may pass through before it ends.
LIVE_STATUSES = frozenset({"queued", "ringing", "in-progress"})
#: How long a carrier's call id finds its dial (longer than the longest allowed call,
#: BATCHDIAL_MAX_CALL_SECONDS <= 7 days, so that a late callback still finds it).
CARRIER_CALL_TTL_S = 8 * 86400
#: Jobs whose workspace :meth:`DialEnds.locate_job` keeps (cleared when full).
WS_OF_JOB_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class DialRef:
    """Where a dial lives: enough to build every key its scripts need."""

    ws_id: str
    job_id: str
    dial_id: str
    number_id: str


def parse_dial_id(dial_id: str) -> str | None:
    """The job id inside a dial id (``dial_<job hex>_<index>_<attempt>_<random>``)."""
    parts = dial_id.split("_")
    if len(parts) != 5 or parts[0] != "dial" or not parts[1]:
        return None
    return f"job_{parts[1]}"


def new_dial_id(job_id: str, index: int, attempt: int | str, token: str) -> str:
    """A dial id that names its job, row and attempt (so callbacks find their job).
    The claim script passes ``"{attempt}"`` and fills the attempt in itself."""
    return f"dial_{job_id.removeprefix('job_')}_{index}_{attempt}_{token}"


class DialEnds:
    """Ends dials atomically (``finish_dial.lua``). With ``min_replicas`` > 0 an end
    returns (and its freed slot is dialed into) only once that many replicas have it;
    else :class:`~domain.replicas.ReplicaWaitError` (a ``redis.ConnectionError``: the
    worker defers the end and records it again, the API answers 503 and the carrier
    retries its callback; ending is idempotent)."""

    def __init__(self, client: redis.Redis, keys: Keys, *, min_replicas: int = 0) -> None:
        self._r = client
        self._k = keys
        self._scripts = Scripts(client)
        self.min_replicas = min_replicas
        #: job id -> workspace id, for :meth:`locate_job`.
        self._ws_of_job: dict[str, str] = {}

    def locate_job(self, dial_id: str) -> DialRef | None:
        """The job and workspace of a dial id, for ending it (``finish`` answers
        ``missing`` for a dial that does not exist; its number id is left empty, as
        ``finish_dial.lua`` reads it from the dial): at most one round trip, none for a
        job seen before (a job's workspace never changes)."""
        job_id = parse_dial_id(dial_id)
        if job_id is None:
            return None
        ws_id = self._ws_of_job.get(job_id)
        if ws_id is None:
            ws_id = cast(str | None, self._r.hget(self._k.jobws, job_id))
            if ws_id is None:
                return None
            if len(self._ws_of_job) >= WS_OF_JOB_KEPT:
                self._ws_of_job.clear()
            self._ws_of_job[job_id] = ws_id
        return DialRef(ws_id, job_id, dial_id, "")

    def locate(self, dial_id: str) -> DialRef | None:
        """Find a dial by id alone (for provider callbacks): its job as
        :meth:`locate_job` finds it, and the dial itself."""
        job = self.locate_job(dial_id)
        if job is None:
            return None
        number_id = cast(str | None, self._r.hget(self._k.dial(job.ws_id, dial_id), "fromNumberId"))
        if number_id is None:
            return None
        return DialRef(job.ws_id, job.job_id, dial_id, number_id)

    def locate_call(self, carrier: str, call_id: str) -> DialRef | None:
        """Find a dial by the carrier's id of its call (see :meth:`record_call`)."""
        member = cast(str | None, self._r.get(self._k.carrier_call(carrier, call_id)))
        if member is None:
            return None
        _, _, dial_id = split_dial_member(member)
        return self.locate(dial_id)

    def record_call(self, ref: DialRef, carrier: str, call_id: str) -> None:
        """Key the dial by the carrier's id of its call as well as by ours: the dial
        record names it (``carrier``, ``carrierCallId``) and the call id finds the dial."""
        with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._k.dial(ref.ws_id, ref.dial_id),
                mapping={"carrier": carrier, "carrierCallId": call_id},
            )
            pipe.set(
                self._k.carrier_call(carrier, call_id),
                dial_member(ref.ws_id, ref.job_id, ref.dial_id),
                ex=CARRIER_CALL_TTL_S,
            )
            pipe.execute()

    def placing(self, ref: DialRef) -> bool:
        """Whether the dial is live and still being placed by a worker (not yet handed to
        its carrier, ``handoff.lua``): a carrier's report of its end must wait for the
        worker's answer then (the livekit webhook route)."""
        status, owner = cast(
            list[str | None], self._r.hmget(self._k.dial(ref.ws_id, ref.dial_id), "status", "owner")
        )
        return status in LIVE_STATUSES and owner != "provider"

    def put_back(
        self,
        ref: DialRef,
        wait_ms: int,
        *,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> PutBackOutcome:
        """Take back a dial whose call was not placed (a carrier's rate limit): its slots
        are freed and its row is dialed again after ``wait_ms`` (``put_back.lua``)."""
        return parse_put_back(
            self._scripts(
                "put_back",
                self._k.script_keys(ref.ws_id, ref.job_id),
                [
                    job_member(ref.ws_id, ref.job_id),
                    ref.job_id,
                    ref.dial_id,
                    max(0, int(wait_ms)),
                    dial_member(ref.ws_id, ref.job_id, ref.dial_id),
                    reason,
                    json.dumps({"provider": details}, separators=(",", ":")) if details else "",
                ],
            )
        ).outcome

    def finish(
        self,
        ref: DialRef,
        status: str,
        *,
        reason: str = "",
        only_if_expired: bool = False,
        release: bool = False,
        refill: bool = False,
        details: dict[str, Any] | None = None,
    ) -> FinishResult:
        """End the dial with ``status`` (idempotent); ``release`` hands back freed rows.

        ``refill`` (with ``release``) also pushes those rows onto the refill list that
        idle workers wait on (``Keys.ns_key("K_REFILLS")``, :mod:`worker.engine.refills`),
        in the same script: a carrier's callback ends the dial and refills its slot in one
        round trip, and an end is never recorded without its refill sent.

        ``details`` (what the provider reported beside the status, already bounded by
        ``domain.provider_details.bound_details``) go into the event under ``provider``;
        details over MAX_DETAILS_BYTES are replaced by ``{"detailsTruncated": true}``.
        """
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"{status!r} does not end a dial")
        extra = encode({"provider": details}) if details else ""
        size = len(extra.encode())
        if size > MAX_DETAILS_BYTES + len('{"provider":}'):
            log.warning("provider_details_truncated", dial_id=ref.dial_id, bytes=size)
            extra = encode({"provider": {"detailsTruncated": True}})
        ended = parse_finish_dial(
            self._scripts.durable(
                "finish_dial",
                self._k.script_keys(ref.ws_id, ref.job_id),
                [
                    job_member(ref.ws_id, ref.job_id),
                    ref.job_id,
                    ref.dial_id,
                    status,
                    reason,
                    "1" if only_if_expired else "0",
                    dial_member(ref.ws_id, ref.job_id, ref.dial_id),
                    "1" if release else "0",
                    extra,
                    "1" if refill and release else "",
                ],
                write="end",
                replicas=self.min_replicas,
            )
        )
        if ended.outcome != "finished":
            return ended
        observe_end(status, ended.started_ms, ended.ended_ms)
        if only_if_expired:
            LEASE_RECOVERIES.labels(ended.reason).inc()
        return ended

    def set_live_status(self, ref: DialRef, status: str, *, carrier: bool = False) -> bool:
        """Record a non-final status (``ringing``, ``in-progress``) of a live dial, only
        when it moves the dial forward. ``carrier``: compared with the furthest status
        the carrier reported, not with the claim's (see ``dial_status.lua``)."""
        if status not in LIVE_STATUSES:
            raise ValueError(f"{status!r} is not a live status")
        return parse_dial_status(
            self._scripts(
                "dial_status",
                self._k.script_keys(ref.ws_id, ref.job_id),
                [ref.job_id, ref.dial_id, status, "1" if carrier else ""],
            )
        ).changed
