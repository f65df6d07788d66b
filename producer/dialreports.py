"""Applying what a provider or carrier reports about a dial, shared by every status
route (the generic ``/api/dials/{id}/status`` and each carrier's own route)."""

from __future__ import annotations

from typing import Any

import redis
import structlog

from config.broker import BrokerOutbox
from domain.dials import DialEnds, DialRef, FinishResult
from domain.metrics import CALLBACK_REFILLS

log = structlog.get_logger(__name__)


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
