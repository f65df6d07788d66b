"""The body of a provider's status callback (``POST /api/dials/{dial_id}/status``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr

from domain.dials import LIVE_STATUSES, TERMINAL_STATUSES

#: Statuses a provider may report: a final one ends the dial, a live one is recorded.
REPORTABLE_STATUSES = TERMINAL_STATUSES | LIVE_STATUSES


class StatusIn(BaseModel):
    """A provider's report; fields beyond ``status`` are kept as details of the event."""

    model_config = ConfigDict(extra="allow")

    # The enum is in the document only: the route answers a status outside it with
    # its own message (naming the allowed ones).
    status: StrictStr = Field(
        json_schema_extra={"enum": list[JsonValue](sorted(REPORTABLE_STATUSES))}
    )
