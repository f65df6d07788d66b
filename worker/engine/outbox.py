"""How the engine sends actor messages (``worker.actors.BrokerOutbox`` over dramatiq;
tests record them instead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Outbox(Protocol):
    """Sends actor messages."""

    def send_pump(self, ws_id: str, job_id: str) -> None:
        """Ask for one run of the job's scheduler."""
        ...

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        """Ask for one dial of a released row."""
        ...

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        """Ask for one dial of each released row, in one round trip."""
        ...
