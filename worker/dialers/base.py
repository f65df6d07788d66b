"""The dialer interface every backend implements.

A dialer answers :meth:`Dialer.place` at once, either with what placing the call gave
(:class:`Placed`: a backend that needs no network, or a test double), or with a
coroutine that places it (the http dialer). The engine runs such a coroutine on the
process's event loop (:mod:`worker.engine.loop`) and records its answer when it comes,
so that a call waiting on a provider holds no worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
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
    #: The job's ``voicemail.action`` (SPEC §8.5), or None: no machine detection.
    voicemail: str | None = None

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
    True: the provider holds the call and reports its end by callback; a carrier names
    its call (``carrier``, ``call_id``) so that the dial can be found by that id too.
    ``retry_in_s`` set: no call was placed (the carrier's rate limit): the row goes
    back to its job and is dialed again after that many seconds, with no failed dial.
    ``live_status`` set with ``handoff``: how far the call got while it was placed (the
    livekit dialer's answer means the callee picked up: ``in-progress``), recorded as the
    carrier's progress.
    """

    status: str | None = None
    handoff: bool = False
    reason: str = ""
    details: dict[str, Any] | None = field(default=None)
    carrier: str = ""
    call_id: str | None = None
    retry_in_s: float | None = None
    live_status: str | None = None


#: Called once when a call that lives in this process ends: (status, reason). It may
#: be called from any thread, the event loop's included, and returns at once.
OnEnd = Callable[[str, str], None]
#: What :meth:`Dialer.place` answers: what placing gave, or a coroutine that places it
#: (awaiting only the network and timers: it runs on the process's event loop).
Answer = Placed | Coroutine[Any, Any, Placed]


class Dialer(Protocol):
    """Places calls."""

    def place(self, request: DialRequest, on_end: OnEnd) -> Answer:
        """Place ``request`` without blocking: a :class:`Placed` (see there what it
        means) or a coroutine that gives one; see :data:`Answer`."""
        ...

    def close(self) -> None:
        """Release resources (threads, connections)."""
        ...
