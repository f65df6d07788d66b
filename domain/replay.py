"""Facts replayed from a job's event log (used by the demo, benchmarks and tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def peak_concurrency(events: Iterable[dict[str, Any]]) -> int:
    """The most dials in progress at once. Exact: each dial.started / dial.finished is
    appended in the same atomic step that takes / frees the dial's slots (a dial taken
    back without a call, dial.withdrawn, frees them too)."""
    live = peak = 0
    for event in events:
        if event["type"] == "dial.started":
            live += 1
            peak = max(peak, live)
        elif event["type"] in ("dial.finished", "dial.withdrawn"):
            live -= 1
    return peak
