"""The dialer interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class DialRequest:
    """One call to place."""

    dial_id: str
    job_id: str
    row_id: str
    to_number: str
    from_number: str
    call_agent_id: str
    inputs: dict[str, str]
    attempt: int

    def as_json(self) -> dict[str, Any]:
        """The body of SPEC §6's dial request."""
        return {
            "dialId": self.dial_id,
            "jobId": self.job_id,
            "rowId": self.row_id,
            "toNumber": self.to_number,
            "fromNumber": self.from_number,
            "callAgentId": self.call_agent_id,
            "inputs": self.inputs,
            "attempt": self.attempt,
        }


@dataclass(frozen=True, slots=True)
class Placed:
    """What placing a call gave.

    ``status`` set: the call already ended with it. ``status`` None and ``handoff``
    False: the call lives in this process and ``on_end`` will be called. ``handoff``
    True: the provider holds the call and reports its end by callback.
    """

    status: str | None = None
    handoff: bool = False
    reason: str = ""
    details: dict[str, Any] | None = field(default=None)


#: Called once when a call that lives in this process ends: (status, reason).
OnEnd = Callable[[str, str], None]


class Dialer(Protocol):
    """Places calls."""

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        """Place ``request``; see :class:`Placed` for what the answer means."""
        ...

    def close(self) -> None:
        """Release resources (threads, connections)."""
        ...
