"""The body of a provider's status callback (``POST /api/dials/{dial_id}/status``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr

from domain.dials import LIVE_STATUSES, TERMINAL_STATUSES
from domain.provider_details import (
    DETAIL_FIELDS,
    MAX_DETAILS_BYTES,
    MAX_DROPPED_NAMES,
    MAX_VALUE_CHARS,
)

#: Statuses a provider may report: a final one ends the dial, a live one is recorded.
REPORTABLE_STATUSES = TERMINAL_STATUSES | LIVE_STATUSES

_KEPT = (
    "A provider's report. Of the fields beside `status`, only "
    + ", ".join(f"`{name}`" for name in DETAIL_FIELDS["http"])
    + f" are kept, as details of the dial.finished event (under `provider`): scalar values,"
    f" strings of at most {MAX_VALUE_CHARS} characters, at most {MAX_DETAILS_BYTES} bytes"
    " of JSON in all. Other fields are dropped; `provider.droppedFields` names them"
    f" (the first {MAX_DROPPED_NAMES}) and `provider.droppedFieldCount` counts them."
)


class StatusIn(BaseModel):
    """A provider's report; of the fields beside ``status``, the carrier's allowlist is
    kept (bounded) as details of the event, and the others are dropped (``_KEPT``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"description": _KEPT})

    # The enum is in the document only: the route answers a status outside it with
    # its own message (naming the allowed ones).
    status: StrictStr = Field(
        json_schema_extra={"enum": list[JsonValue](sorted(REPORTABLE_STATUSES))}
    )
