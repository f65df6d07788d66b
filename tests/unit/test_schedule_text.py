"""The readable schedule of ``batchdial jobs create --schedule``."""

from __future__ import annotations

import pytest

from batchdial.schedule_text import ScheduleTextError, describe_schedule, parse_schedule


def _days(schedule: dict[str, object]) -> dict[int, list[tuple[str, str]]]:
    days = schedule["days"]
    assert isinstance(days, list)
    return {d["dayOfWeek"]: [(s["startTime"], s["endTime"]) for s in d["timeSlots"]] for d in days}


def test_business_hours_in_new_york() -> None:
    """'Mon-Fri 09:00-17:00 America/New_York' is Monday (1) to Friday (5), one slot each."""
    schedule = parse_schedule("Mon-Fri 09:00-17:00 America/New_York")
    assert schedule["timezone"] == "America/New_York"
    assert _days(schedule) == {d: [("09:00", "17:00")] for d in range(1, 6)}


def test_several_groups_slots_and_a_range_over_the_weekend() -> None:
    """Groups split by ';', slots by ',', a range may wrap (Fri-Mon), days by full name."""
    schedule = parse_schedule(
        "Fri-Mon 9:00-12:00,13:00-24:00; wednesday 08:00-09:00", timezone="Europe/Paris"
    )
    assert _days(schedule) == {
        0: [("09:00", "12:00"), ("13:00", "24:00")],
        1: [("09:00", "12:00"), ("13:00", "24:00")],
        3: [("08:00", "09:00")],
        5: [("09:00", "12:00"), ("13:00", "24:00")],
        6: [("09:00", "12:00"), ("13:00", "24:00")],
    }
    assert schedule["timezone"] == "Europe/Paris"


def test_json_is_taken_as_it_is() -> None:
    """The API's JSON schedule passes through; --timezone fills a missing timezone."""
    text = '{"days": [{"dayOfWeek": 2, "timeSlots": [{"startTime": "10:00", "endTime": "11:00"}]}]}'
    schedule = parse_schedule(text, "UTC")
    assert schedule["timezone"] == "UTC"
    assert _days(schedule) == {2: [("10:00", "11:00")]}


@pytest.mark.parametrize(
    ("text", "timezone", "message"),
    [
        ("Mon-Fri 09:00-17:00", None, "needs a timezone"),
        ("Mon-Fri 09:00-17:00 UTC", "Europe/Paris", "give one of them"),
        ("09:00-17:00 UTC", None, "comes before any day"),
        ("Mon-Fri UTC", None, "have no times"),
        ("Mo 09:00-10:00 UTC", None, "'Mo' is not a day"),
        ("{not json", None, "not"),
    ],
)
def test_what_cannot_be_read_says_what_to_write(
    text: str, timezone: str | None, message: str
) -> None:
    """Each mistake is refused with a message saying what was expected."""
    with pytest.raises(ScheduleTextError, match=message):
        parse_schedule(text, timezone)


def test_describe_gives_back_the_readable_form() -> None:
    """describe_schedule(parse_schedule(t)) reads as t did."""
    for text in (
        "Mon-Fri 09:00-17:00 America/New_York",
        "daily 00:00-24:00 UTC",
        "Mon-Fri 09:00-12:00,13:00-17:00; Sat 10:00-14:00 Europe/Paris",
        "Mon,Wed 08:00-09:00 Asia/Tokyo",
    ):
        assert describe_schedule(parse_schedule(text)) == text
    assert describe_schedule(None) == "any time (no schedule)"
