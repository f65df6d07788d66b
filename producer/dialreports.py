"""Applying what a provider or carrier reports about a dial, shared by every status
route (the generic ``/api/dials/{id}/status`` and each carrier's own route)."""

from __future__ import annotations

from typing import Any

import redis
import structlog

from config.broker import BrokerOutbox
from domain.dials import LIVE_STATUSES, DialEnds, DialRef, FinishResult
from domain.metrics import CALLBACK_REFILLS

log = structlog.get_logger(__name__)


def locate(ends: DialEnds, carrier: str, dial_id: str, call_id: str) -> DialRef | None:
    """The dial a carrier's report names: by our dial id (when it carries one), else by
    the carrier's own id of the call."""
    ref = ends.locate(dial_id) if dial_id else None
    if ref is None and call_id:
        ref = ends.locate_call(carrier, call_id)
    return ref


def apply_status(
    ends: DialEnds,
    outbox: BrokerOutbox | None,
    ref: DialRef,
    status: str,
    details: dict[str, Any] | None,
) -> bool:
    """Apply a carrier's ``status`` to the dial: a live one moves it forward (if it is
    ahead), an end ends it (:func:`end_and_refill`); whether anything changed."""
    if status in LIVE_STATUSES:
        return ends.set_live_status(ref, status, carrier=True)
    return end_and_refill(ends, outbox, ref, status, details).outcome == "finished"


def end_and_refill(
    ends: DialEnds,
    outbox: BrokerOutbox | None,
    ref: DialRef,
    status: str,
    details: dict[str, Any] | None,
) -> FinishResult:
    """End the dial (idempotent); send the dial messages of the rows released into its
    slot at once, from this process, rather than waiting for a worker's timer."""
    result = ends.finish(ref, status, details=details, release=outbox is not None)
    if outbox is None:
        return result
    try:
        for index in result.released:
            outbox.send_dial(ref.ws_id, ref.job_id, index)
            CALLBACK_REFILLS.inc()
    except redis.RedisError as exc:  # the end is recorded; a released row is taken back
        # by the job's scheduler after Timing.stale_release_ms and released again
        log.warning("refill_not_sent", dial_id=ref.dial_id, error=type(exc).__name__)
    return result
