"""Applying what a provider or carrier reports about a dial, shared by every status
route (the generic ``/api/dials/{id}/status`` and each carrier's own route)."""

from __future__ import annotations

from typing import Any

from config.broker import BrokerOutbox
from domain.dials import LIVE_STATUSES, DialEnds, DialRef, FinishResult
from domain.metrics import CALLBACK_REFILLS


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
    """End the dial (idempotent) and, with a broker, refill its slot at once from this
    process: the script that records the end also pushes the rows it released onto the
    refill list, where an idle worker's BLPOP takes them the moment they are pushed
    (:mod:`worker.engine.refills`; one round trip, and no end recorded without its
    refill sent), rather than waiting for a worker's timer."""
    result = ends.finish(
        ref,
        status,
        details=details,
        release=outbox is not None,
        refill=outbox is not None,
    )
    if result.released:
        CALLBACK_REFILLS.inc(len(result.released))
    return result
