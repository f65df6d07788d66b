"""The job view's ``window``: open now, and when the window next opens or closes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from producer.window import window_view
from tests.support.bodies import sample_schedule

# Monday 2026-11-30, in New York (UTC-5 in winter).
MONDAY_10_NY = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
MONDAY_18_NY = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def _config(**overrides: Any) -> dict[str, Any]:
    schedule = sample_schedule()  # Mondays 09:00-12:00 and 13:00-17:00 in New York
    schedule["days"].append(
        {"dayOfWeek": 3, "timeSlots": [{"startTime": "08:30", "endTime": "24:00"}]}
    )
    config: dict[str, Any] = {"schedule": schedule}
    config.update(overrides)
    return config


def test_open_now_says_when_it_closes() -> None:
    """Inside a slot the window is open and closes at the slot's end (in UTC)."""
    assert window_view(_config(), MONDAY_10_NY) == {
        "openNow": True,
        "nextOpenAt": None,
        "nextCloseAt": "2026-11-30T17:00:00.000Z",
        "alwaysOpen": False,
    }


def test_closed_says_when_it_opens() -> None:
    """After the last slot of Monday the window next opens on Wednesday 08:30 local."""
    assert window_view(_config(), MONDAY_18_NY) == {
        "openNow": False,
        "nextOpenAt": "2026-12-02T13:30:00.000Z",
        "nextCloseAt": None,
        "alwaysOpen": False,
    }


def test_between_two_slots_of_a_day_the_window_is_closed_until_the_second() -> None:
    """12:30 on Monday: closed, opens at 13:00 the same day."""
    view = window_view(_config(), datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    assert view["openNow"] is False
    assert view["nextOpenAt"] == "2026-11-30T18:00:00.000Z"


def test_no_schedule_or_a_disabled_one_is_always_open() -> None:
    """Without a schedule (or with disableSchedule) a job may dial at any time."""
    always = {"openNow": True, "nextOpenAt": None, "nextCloseAt": None, "alwaysOpen": True}
    assert window_view({"schedule": None}, MONDAY_18_NY) == always
    assert window_view(_config(disableSchedule=True), MONDAY_18_NY) == always


def test_a_schedule_covering_the_whole_week_is_always_open() -> None:
    """Every day 00:00-24:00 never closes."""
    days = [
        {"dayOfWeek": d, "timeSlots": [{"startTime": "00:00", "endTime": "24:00"}]}
        for d in range(7)
    ]
    view = window_view({"schedule": {"days": days, "timezone": "Europe/Paris"}}, MONDAY_18_NY)
    assert view["alwaysOpen"] is True
    assert view["openNow"] is True
