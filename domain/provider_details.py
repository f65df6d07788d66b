"""What is kept of the details a provider reports with a dial's end.

A status callback (``POST /api/dials/{dialId}/status``) and the http dialer's answer
may carry fields beside ``status``. They end up in the ``dial.finished`` event (under
``provider``), which every reader of ``/events`` downloads, so what is kept is bounded:

* only the fields of the carrier's allowlist (:data:`DETAIL_FIELDS`);
* only scalar values: strings of at most :data:`MAX_VALUE_CHARS` characters, numbers
  (finite), booleans and null; a longer string is dropped, not cut (a cut call id
  would be a wrong id);
* at most :data:`MAX_DETAILS_BYTES` bytes of JSON (UTF-8) in all (the ``provider`` object,
  drop record included): fields are kept in the order the provider sent them until
  the next one would pass the budget.

Everything else is dropped, and the drop is recorded in the same object:
``droppedFields`` names the first :data:`MAX_DROPPED_NAMES` dropped fields (each name
cut to :data:`MAX_NAME_BYTES` bytes of JSON) and ``droppedFieldCount`` counts them all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TypeGuard

__all__ = [
    "DETAIL_FIELDS",
    "MAX_DETAILS_BYTES",
    "MAX_DROPPED_NAMES",
    "MAX_NAME_BYTES",
    "MAX_VALUE_CHARS",
    "Detail",
    "Scalar",
    "bound_details",
    "encode",
    "encoded_size",
]

#: Fields kept from a provider's report, per carrier. ``http`` is the generic
#: provider of SPEC §6 (callbacks and the dialer's answer).
DETAIL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "http": (
        "reason",
        "durationSeconds",
        "duration",
        "answeredBy",
        "providerCallId",
        "callSid",
        "sipCode",
        "hangupCause",
    ),
    # The telnyx webhook route: call.hangup's payload, the remembered machine verdict,
    # and the event's id and time.
    "telnyx": (
        "call_control_id",
        "call_session_id",
        "hangup_cause",
        "hangup_source",
        "sip_hangup_cause",
        "start_time",
        "end_time",
        "answeredBy",
        "eventId",
        "occurredAt",
    ),
}
#: The longest string value kept (characters).
MAX_VALUE_CHARS = 256
#: The most JSON (bytes, compact, as stored) the whole ``provider`` object may take.
MAX_DETAILS_BYTES = 2048
#: How many dropped field names are listed in ``droppedFields``.
MAX_DROPPED_NAMES = 8
#: The most JSON (bytes) one listed name takes; longer names are cut.
MAX_NAME_BYTES = 64
#: What the kept fields may take, so that the drop record always fits beside them
#: (8 names of at most 64 bytes, their commas and the two keys: under 640 bytes).
_KEPT_BUDGET = MAX_DETAILS_BYTES - 640

Scalar = str | int | float | bool | None
#: A kept value, or the drop record's list of names.
Detail = Scalar | list[str]


def encode(value: object) -> str:
    """``value`` as JSON the way events store it (compact, UTF-8 as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encoded_size(value: object) -> int:
    """Bytes ``value`` takes in an event (UTF-8 of :func:`encode`)."""
    return len(encode(value).encode())


def _scalar(value: object) -> TypeGuard[Scalar]:
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= MAX_VALUE_CHARS


def _clip(name: str) -> str:
    """``name`` cut (by characters) until its JSON takes at most MAX_NAME_BYTES."""
    name = name[:MAX_NAME_BYTES]
    while encoded_size(name) > MAX_NAME_BYTES:
        name = name[:-1]
    return name


def bound_details(report: Mapping[str, object], carrier: str = "http") -> dict[str, Detail]:
    """What is kept of ``report`` (fields beside ``status``), with the drop recorded."""
    allowed = DETAIL_FIELDS[carrier]
    kept: dict[str, Detail] = {}
    dropped: list[str] = []
    size = 2  # the braces
    for name, value in report.items():
        if name not in allowed or not _scalar(value):
            dropped.append(name)
            continue
        field = encoded_size(name) + 1 + encoded_size(value) + (1 if kept else 0)
        if size + field > _KEPT_BUDGET:
            dropped.append(name)
            continue
        kept[name] = value
        size += field
    if dropped:
        kept["droppedFields"] = [_clip(n) for n in dropped[:MAX_DROPPED_NAMES]]
        kept["droppedFieldCount"] = len(dropped)
    return kept
