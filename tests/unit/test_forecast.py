"""The forecast of domain.forecast against cases computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.forecast import Pace, forecast
from domain.time.eligibility import Hours, hours_schedule
from domain.time.schedule import WeeklySchedule

NY = "America/New_York"
BUSINESS = WeeklySchedule.from_slots(NY, [(d, "09:00", "17:00") for d in range(1, 6)])


def test_over_a_weekend_and_the_end_of_daylight_saving_time() -> None:
    """400 rows, 5 at once, 120 s a call: 400 x 120 / 5 = 9600 s = 2 h 40 min of dialing.
    From Friday 2026-10-30 16:00 EDT (20:00Z) the window gives 1 h on Friday (to 17:00
    EDT); Saturday and Sunday are closed, and on Sunday New York goes from EDT (-4) to
    EST (-5); the 1 h 40 min left run from Monday 09:00 EST (14:00Z) to 10:40 EST, that
    is 15:40Z (14:40Z if the offset change were missed)."""
    result = forecast(
        400,
        Pace(concurrency=5, mean_call_s=120.0),
        datetime(2026, 10, 30, 20, 0, tzinfo=UTC),
        schedules=[BUSINESS],
        zone=NY,
    )
    assert result.dialing_seconds == 9600
    assert result.finish_at == datetime(2026, 11, 2, 15, 40, tzinfo=UTC)
    assert result.per_day == {date(2026, 10, 30): 3600.0, date(2026, 11, 2): 6000.0}
    assert result.reason is None


def test_days_split_at_local_midnight_on_the_short_day_of_spring_forward() -> None:
    """Always open, 48 h of dialing from Saturday 2026-03-07 12:00 EST (17:00Z): 12 h that
    Saturday, 23 h on Sunday the 8th (02:00 does not exist), then 13 h on Monday, to
    13:00 EDT = 17:00Z on the 9th."""
    result = forecast(
        48 * 60,
        Pace(concurrency=1, mean_call_s=60.0),
        datetime(2026, 3, 7, 17, 0, tzinfo=UTC),
        schedules=[None],
        zone=NY,
    )
    assert result.finish_at == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)
    assert result.per_day == {
        date(2026, 3, 7): 12 * 3600.0,
        date(2026, 3, 8): 23 * 3600.0,
        date(2026, 3, 9): 13 * 3600.0,
    }


def test_recipient_hours_narrow_the_schedule() -> None:
    """Business hours and recipient hours 10:00-12:00: 2 h a weekday. 6 h of dialing
    from Monday 2026-12-07 08:00 EST: Monday, Tuesday and Wednesday 10:00-12:00, done
    Wednesday 12:00 EST = 17:00Z."""
    hours = hours_schedule(Hours.parse("10:00", "12:00"), NY)
    result = forecast(
        6 * 3600 // 60,
        Pace(concurrency=1, mean_call_s=60.0),
        datetime(2026, 12, 7, 13, 0, tzinfo=UTC),
        schedules=[BUSINESS, hours],
        zone=NY,
    )
    assert result.finish_at == datetime(2026, 12, 9, 17, 0, tzinfo=UTC)
    assert list(result.per_day.values()) == [7200.0, 7200.0, 7200.0]


def test_pacing_caps_the_rate_below_what_the_slots_allow() -> None:
    """200 slots of 10 s calls would do 20 rows/s; a limit of 5 dials/s makes 1000 rows
    take 200 s."""
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    paced = Pace(concurrency=200, mean_call_s=10.0, dials_per_second=5.0)
    assert paced.rows_per_second == 5.0
    result = forecast(1000, paced, now, schedules=[None], zone="UTC")
    assert result.finish_at == now + timedelta(seconds=200)
    free = forecast(1000, Pace(200, 10.0), now, schedules=[None], zone="UTC")
    assert free.finish_at == now + timedelta(seconds=50)


def test_nothing_left_is_done_now_and_a_window_that_never_opens_says_so() -> None:
    """No rows left: finished now. A schedule that never opens within the horizon: no
    finish time, reason never_open."""
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert forecast(0, Pace(5, 60.0), now, schedules=[BUSINESS], zone=NY).finish_at == now
    never = WeeklySchedule.from_slots(NY, [])
    result = forecast(10, Pace(5, 60.0), now, schedules=[never], zone=NY)
    assert (result.finish_at, result.reason) == (None, "never_open")


@pytest.mark.parametrize("mean", [0.5, 90.0])
def test_the_rate_is_concurrency_over_mean_call_length(mean: float) -> None:
    """rows_per_second = concurrency / mean call seconds."""
    assert Pace(6, mean).rows_per_second == pytest.approx(6 / mean)
