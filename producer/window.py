"""Whether a job's calling window is open now, and when it next opens or closes.

Computed from the job's running schedule (``domain.time.schedule``), not from what the
engine last recorded, so it is right for jobs that are not running too. It says
nothing of the job's status: a paused job's window may be open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.stored_config import schedule_of
from domain.time.schedule import is_open, next_close, next_open
from domain.time.timefmt import iso_ms


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso_ms(round(at.timestamp() * 1000))


def window_view(config: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """``{"openNow", "nextOpenAt", "nextCloseAt", "alwaysOpen"}`` of a job at ``now``.

    ``nextOpenAt`` is null while open (and for a schedule without slots);
    ``nextCloseAt`` is null while closed and when the window never closes.
    """
    at = now or datetime.now(UTC)
    schedule = schedule_of(config)
    if schedule is None or schedule.always_open:
        return {"openNow": True, "nextOpenAt": None, "nextCloseAt": None, "alwaysOpen": True}
    open_now = is_open(schedule, at)
    return {
        "openNow": open_now,
        "nextOpenAt": None if open_now else _iso(next_open(schedule, at)),
        "nextCloseAt": _iso(next_close(schedule, at)) if open_now else None,
        "alwaysOpen": False,
    }
