"""domain.time.schedule: examples, DST edge cases and property tests against brute force."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.time.schedule import (
    TimeSlot,
    WeeklySchedule,
    is_open,
    next_close,
    next_open,
    parse_hhmm,
)

NEW_YORK = "America/New_York"
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
MICROSECOND = timedelta(microseconds=1)

# 2026-03-01 is a Sunday, so SUNDAY + timedelta(days=d) has dayOfWeek d.
SUNDAY = datetime(2026, 3, 1)

ZONES = [
    "UTC",
    NEW_YORK,
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Eucla",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/Moscow",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "Africa/Casablanca",
    "Antarctica/Troll",
    "Pacific/Kiritimati",
]


def utc(*fields: int) -> datetime:
    """An aware UTC datetime from (year, month, day[, hour[, minute[, second]]])."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(zone: str, *fields: int, fold: int = 0) -> datetime:
    """An aware datetime in ``zone`` from (year, month, day[, hour[, minute[, second[, us]]]])."""
    year, month, day, hour, minute, second, micro = (*fields, 0, 0, 0, 0)[:7]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=ZoneInfo(zone), fold=fold)


def sched(zone: str, days: dict[int, list[tuple[str, str]]]) -> WeeklySchedule:
    """A schedule from ``HH:MM`` pairs."""
    return WeeklySchedule.from_hhmm(zone, days)


# --------------------------------------------------------------------------
# Brute-force oracle, written independently of the implementation
# --------------------------------------------------------------------------


def oracle_is_open(schedule: WeeklySchedule, at: datetime) -> bool:
    """The definition: local wall time (via astimezone) inside a slot of the local weekday."""
    wall = at.astimezone(ZoneInfo(schedule.timezone))
    day = wall.isoweekday() % 7  # isoweekday: Monday=1 .. Sunday=7 -> Sunday=0
    seconds = wall.hour * 3600 + wall.minute * 60 + wall.second
    return any(
        slot.start_minute * 60 <= seconds < slot.end_minute * 60
        for slot in schedule.days.get(day, ())
    )


def oracle_always_open(schedule: WeeklySchedule) -> bool:
    """Every minute of every weekday is covered by a slot."""
    return all(
        sum(slot.end_minute - slot.start_minute for slot in schedule.days.get(day, ())) == 1440
        for day in range(7)
    )


def oracle_next(
    schedule: WeeklySchedule, at: datetime, *, want_open: bool, horizon_days: int = 16
) -> datetime | None:
    """First instant >= at whose openness is ``want_open``, by stepping whole UTC minutes.

    Openness only changes at whole seconds and (for these zones and years) at most once per
    minute, so the first wanted minute is refined to the exact second by bisection.
    """
    start = at.astimezone(UTC)
    if oracle_is_open(schedule, start) is want_open:
        return start
    previous = start
    probe = start.replace(second=0, microsecond=0) + MINUTE
    end = start + timedelta(days=horizon_days)
    while probe <= end:
        if oracle_is_open(schedule, probe) is want_open:
            lo = int(previous.timestamp() // 1)  # same second as `previous`: unwanted state
            hi = int(probe.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if oracle_is_open(schedule, datetime.fromtimestamp(mid, UTC)) is want_open:
                    hi = mid
                else:
                    lo = mid
            return datetime.fromtimestamp(hi, UTC)
        previous = probe
        probe += MINUTE
    return None


def assert_agrees_with_oracle(schedule: WeeklySchedule, instants: Iterator[datetime]) -> None:
    """is_open, next_open and next_close equal the brute-force oracle at every instant."""
    for at in instants:
        assert is_open(schedule, at) == oracle_is_open(schedule, at), at
        assert next_open(schedule, at) == oracle_next(schedule, at, want_open=True), at
        expected_close = (
            None if oracle_always_open(schedule) else oracle_next(schedule, at, want_open=False)
        )
        assert next_close(schedule, at) == expected_close, at


def every(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    """Instants from start (inclusive) to end (exclusive) every step."""
    while start < end:
        yield start
        start += step


# --------------------------------------------------------------------------
# parse_hhmm and construction
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "allow_24", "expected"),
    [
        ("00:00", False, 0),
        ("09:30", False, 570),
        ("23:59", False, 1439),
        ("24:00", True, 1440),
        ("12:00", True, 720),
    ],
)
def test_parse_hhmm_valid(text: str, allow_24: bool, expected: int) -> None:
    """Two-digit 24-hour HH:MM parses to minutes since midnight, 24:00 only when allowed."""
    assert parse_hhmm(text, allow_24=allow_24) == expected


@pytest.mark.parametrize(
    "text",
    [
        "9:30",
        "09:3",
        "0930",
        "",
        " 09:30",
        "09:30 ",
        "09:30\n",
        "24:01",
        "23:60",
        "25:00",
        "-1:00",
        "09:30:00",
        "\u0660\u0669:\u0663\u0660",
        "ab:cd",
        "+9:30",
    ],
)
def test_parse_hhmm_invalid(text: str) -> None:
    """Anything but exactly two-digit 24-hour HH:MM is rejected with a ValueError."""
    with pytest.raises(ValueError, match="invalid time"):
        parse_hhmm(text, allow_24=True)


def test_parse_hhmm_rejects_24_when_not_allowed() -> None:
    """24:00 is refused when allow_24 is false (slot starts)."""
    with pytest.raises(ValueError, match="24:00"):
        parse_hhmm("24:00", allow_24=False)


@pytest.mark.parametrize(("start", "end"), [(10, 10), (11, 10), (-1, 10), (0, 1441), (1440, 1440)])
def test_time_slot_rejects_invalid_bounds(start: int, end: int) -> None:
    """A slot must satisfy 0 <= start < end <= 1440."""
    with pytest.raises(ValueError, match="invalid slot"):
        TimeSlot(start, end)


def test_schedule_rejects_overlap_bad_day_and_unknown_zone() -> None:
    """Overlapping slots, a day key outside 0..6 and an unknown zone are refused."""
    with pytest.raises(ValueError, match="overlapping"):
        sched("UTC", {1: [("09:00", "12:00"), ("11:00", "13:00")]})
    with pytest.raises(ValueError, match="day of week"):
        sched("UTC", {7: [("09:00", "12:00")]})
    with pytest.raises(ValueError, match="unknown time zone"):
        sched("Mars/Olympus_Mons", {1: [("09:00", "12:00")]})


def test_schedule_is_normalized_immutable_hashable_and_picklable() -> None:
    """Slots are sorted, empty days dropped, days read-only, and the value hashes and pickles."""
    source = {1: (TimeSlot(780, 1020), TimeSlot(540, 720)), 2: ()}
    schedule = WeeklySchedule("Europe/London", source)
    assert dict(schedule.days) == {1: (TimeSlot(540, 720), TimeSlot(780, 1020))}
    source[3] = (TimeSlot(0, 10),)
    assert 3 not in schedule.days
    with pytest.raises(TypeError):
        schedule.days[4] = ()  # type: ignore[index]
    assert schedule.zone == ZoneInfo("Europe/London")
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert copy.deepcopy(schedule) == schedule
    assert hash(copy.deepcopy(schedule)) == hash(schedule)
    rows = WeeklySchedule.from_slots(
        "Europe/London", [(1, "13:00", "17:00"), (1, "09:00", "12:00")]
    )
    assert rows == schedule


@pytest.mark.parametrize("call", [is_open, next_open, next_close])
def test_naive_datetime_is_rejected(call: object) -> None:
    """Every query raises ValueError for a naive datetime, with or without a schedule."""
    schedule = sched("UTC", {1: [("09:00", "17:00")]})
    for candidate in (schedule, None):
        with pytest.raises(ValueError, match="naive"):
            call(candidate, datetime(2026, 3, 2, 10))  # type: ignore[operator]


# --------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------


@pytest.mark.parametrize("day", range(7))
def test_day_of_week_mapping(day: int) -> None:
    """dayOfWeek 0 is Sunday ... 6 is Saturday, and only that weekday is open."""
    schedule = sched("UTC", {day: [("10:00", "11:00")]})
    for offset in range(7):
        at = (SUNDAY + timedelta(days=offset, hours=10, minutes=30)).replace(tzinfo=UTC)
        assert is_open(schedule, at) is (offset == day)
    names = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    opened = next_open(schedule, SUNDAY.replace(tzinfo=UTC))
    assert opened is not None
    assert opened.strftime("%A %H:%M") == f"{names[day]} 10:00"


def test_end_of_day_24_00() -> None:
    """A slot ending at 24:00 is open until the last instant of the day and closes at midnight."""
    monday = SUNDAY + timedelta(days=1)
    schedule = sched("UTC", {1: [("22:00", "24:00")]})
    midnight = (monday + timedelta(days=1)).replace(tzinfo=UTC)
    assert is_open(schedule, midnight - MICROSECOND)
    assert not is_open(schedule, midnight)
    assert next_close(schedule, midnight - timedelta(hours=1)) == midnight


def test_slots_touching_across_midnight_merge() -> None:
    """Monday 22:00-24:00 followed by Tuesday 00:00-02:00 stays open across midnight."""
    schedule = sched("UTC", {1: [("22:00", "24:00")], 2: [("00:00", "02:00")]})
    monday_23 = (SUNDAY + timedelta(days=1, hours=23)).replace(tzinfo=UTC)
    assert next_close(schedule, monday_23) == monday_23 + timedelta(hours=3)


def test_several_slots_a_day() -> None:
    """With gaps between slots, next_open/next_close jump to the right neighbouring boundary."""
    schedule = sched(NEW_YORK, {3: [("18:00", "19:30"), ("09:00", "12:00"), ("13:00", "17:00")]})
    wednesday = SUNDAY + timedelta(days=3)

    def at(hour: int, minute: int = 0) -> datetime:
        return local(NEW_YORK, wednesday.year, wednesday.month, wednesday.day, hour, minute)

    assert [
        is_open(schedule, at(h, m))
        for h, m in [(8, 59), (9, 0), (12, 0), (12, 30), (13, 0), (17, 0), (18, 15), (19, 30)]
    ] == [False, True, False, False, True, False, True, False]
    assert next_open(schedule, at(12, 30)) == at(13).astimezone(UTC)
    assert next_close(schedule, at(9)) == at(12).astimezone(UTC)
    assert next_open(schedule, at(17, 1)) == at(18).astimezone(UTC)
    assert next_close(schedule, at(18, 59)) == at(19, 30).astimezone(UTC)


def test_half_open_boundaries() -> None:
    """A slot is open at its start and closed at its end, to the microsecond."""
    schedule = sched("Asia/Tokyo", {1: [("09:00", "17:00")]})
    start = local("Asia/Tokyo", 2026, 3, 2, 9)
    end = local("Asia/Tokyo", 2026, 3, 2, 17)
    assert not is_open(schedule, start - MICROSECOND)
    assert is_open(schedule, start)
    assert is_open(schedule, end - MICROSECOND)
    assert not is_open(schedule, end)
    assert next_open(schedule, start - MICROSECOND) == start
    assert next_close(schedule, start) == end
    assert next_close(schedule, end) == end


def test_results_are_utc_and_keep_microseconds() -> None:
    """Results are aware UTC datetimes and an open/closed `at` is returned unchanged."""
    schedule = sched(NEW_YORK, {1: [("09:00", "17:00")]})
    inside = local("Asia/Tokyo", 2026, 3, 3, 0, 0, 0, 123456)  # Monday 10:00 in New York
    outside = inside + timedelta(hours=12)
    opened = next_open(schedule, inside)
    closed = next_close(schedule, outside)
    assert opened == inside
    assert closed == outside
    assert opened is not None
    assert closed is not None
    assert opened.tzinfo is UTC
    assert closed.tzinfo is UTC
    assert opened.microsecond == 123456


def test_next_open_rolls_over_to_next_week() -> None:
    """After the only slot of the week, next_open is the same slot seven days later."""
    schedule = sched("Europe/Paris", {1: [("09:00", "10:00")]})
    after = local("Europe/Paris", 2026, 3, 2, 10)
    assert next_open(schedule, after) == local("Europe/Paris", 2026, 3, 9, 9).astimezone(UTC)


def test_none_schedule_is_always_open() -> None:
    """No schedule means always open: open now, next_open is `at` in UTC, never closes."""
    at = local(NEW_YORK, 2026, 7, 4, 3, 15, 7, 42)
    assert is_open(None, at)
    opened = next_open(None, at)
    assert opened == at
    assert opened is not None
    assert opened.tzinfo is UTC
    assert next_close(None, at) is None


@pytest.mark.parametrize(
    "days",
    [
        {day: [("00:00", "24:00")] for day in range(7)},
        {day: [("00:00", "12:00"), ("12:00", "24:00")] for day in range(7)},
    ],
)
def test_full_week_schedule_never_closes(days: dict[int, list[tuple[str, str]]]) -> None:
    """A schedule covering every day 00:00-24:00 is open and next_close is None."""
    schedule = sched("Australia/Lord_Howe", days)
    at = utc(2026, 4, 4, 14, 59)
    assert is_open(schedule, at)
    assert next_open(schedule, at) == at
    assert next_close(schedule, at) is None


def test_six_full_days_close_at_the_seventh() -> None:
    """Missing one day out of seven, next_close is that day's local midnight."""
    schedule = sched(NEW_YORK, {day: [("00:00", "24:00")] for day in range(6)})
    assert next_close(schedule, local(NEW_YORK, 2026, 3, 1)) == local(NEW_YORK, 2026, 3, 7)


def test_empty_schedule_never_opens() -> None:
    """A schedule without slots is closed, never opens, and next_close is `at` itself."""
    at = utc(2026, 3, 2, 12)
    for schedule in (WeeklySchedule("UTC", {}), WeeklySchedule(NEW_YORK, {1: ()})):
        assert not is_open(schedule, at)
        assert next_open(schedule, at) is None
        assert next_close(schedule, at) == at


# --------------------------------------------------------------------------
# DST and odd zones
# --------------------------------------------------------------------------


def test_new_york_spring_forward_slot_starting_in_gap() -> None:
    """On 2026-03-08, 02:30-03:30 opens at 03:00 EDT (the transition) and closes at 03:30 EDT."""
    schedule = sched(NEW_YORK, {0: [("02:30", "03:30")]})
    transition = utc(2026, 3, 8, 7)  # 02:00 EST -> 03:00 EDT
    assert not is_open(schedule, transition - SECOND)
    assert is_open(schedule, transition)
    assert next_open(schedule, local(NEW_YORK, 2026, 3, 8)) == transition
    assert next_close(schedule, transition) == utc(2026, 3, 8, 7, 30)


def test_new_york_spring_forward_slot_inside_gap_skips_the_day() -> None:
    """On 2026-03-08, 02:00-02:45 lies entirely in the gap, so the next opening is a week later."""
    schedule = sched(NEW_YORK, {0: [("02:00", "02:45")]})
    assert next_open(schedule, local(NEW_YORK, 2026, 3, 8)) == local(NEW_YORK, 2026, 3, 15, 2)
    assert next_open(schedule, local(NEW_YORK, 2026, 3, 1, 2, 45)) == local(
        NEW_YORK, 2026, 3, 15, 2
    )


def test_new_york_fall_back_slot_open_in_both_folds() -> None:
    """On 2026-11-01, 01:15-01:45 is open during both occurrences of 01:15-01:45."""
    schedule = sched(NEW_YORK, {0: [("01:15", "01:45")]})
    # Ambiguous aware datetimes never compare equal across zones (PEP 495): convert first.
    first = local(NEW_YORK, 2026, 11, 1, 1, 15, fold=0).astimezone(UTC)
    second = local(NEW_YORK, 2026, 11, 1, 1, 15, fold=1).astimezone(UTC)
    assert first == utc(2026, 11, 1, 5, 15)
    assert second == utc(2026, 11, 1, 6, 15)
    assert next_open(schedule, local(NEW_YORK, 2026, 11, 1)) == first
    assert next_close(schedule, first) == utc(2026, 11, 1, 5, 45)
    assert not is_open(schedule, utc(2026, 11, 1, 6))
    assert next_open(schedule, utc(2026, 11, 1, 5, 45)) == second
    assert next_close(schedule, second) == utc(2026, 11, 1, 6, 45)


def test_new_york_fall_back_reopens_at_the_transition() -> None:
    """00:30-01:30 closes at 01:30 EDT and reopens at the transition, when 01:00 EST comes back."""
    schedule = sched(NEW_YORK, {0: [("00:30", "01:30")]})
    assert next_close(schedule, utc(2026, 11, 1, 5)) == utc(2026, 11, 1, 5, 30)
    assert next_open(schedule, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 6)
    assert next_close(schedule, utc(2026, 11, 1, 6)) == utc(2026, 11, 1, 6, 30)


def test_london_gap_and_fold() -> None:
    """Europe/London: 01:00-02:00 vanishes on 2026-03-29 and lasts two hours on 2026-10-25."""
    schedule = sched("Europe/London", {0: [("01:00", "02:00")]})
    assert next_open(schedule, utc(2026, 3, 28, 12)) == utc(2026, 4, 5, 0)  # 01:00 BST
    assert next_open(schedule, utc(2026, 10, 24, 12)) == utc(2026, 10, 25, 0)  # 01:00 BST
    assert next_close(schedule, utc(2026, 10, 25, 0)) == utc(2026, 10, 25, 2)  # 02:00 GMT
    cut = sched("Europe/London", {0: [("00:30", "01:30")]})
    assert next_close(cut, utc(2026, 3, 29, 0, 45)) == utc(2026, 3, 29, 1)  # the transition


def test_lord_howe_half_hour_dst() -> None:
    """Australia/Lord_Howe shifts 30 min: gap 02:00-02:30 in October, fold 01:30-02:00 in April."""
    zone = "Australia/Lord_Howe"
    in_gap = sched(zone, {0: [("02:00", "02:30")]})
    assert next_open(in_gap, utc(2026, 10, 3, 12)) == local(zone, 2026, 10, 11, 2)
    straddling = sched(zone, {0: [("02:15", "03:00")]})
    assert next_open(straddling, utc(2026, 10, 3, 12)) == utc(2026, 10, 3, 15, 30)
    assert next_close(straddling, utc(2026, 10, 3, 15, 30)) == utc(2026, 10, 3, 16)
    folded = sched(zone, {0: [("01:40", "01:50")]})
    assert next_open(folded, utc(2026, 4, 4, 12)) == utc(2026, 4, 4, 14, 40)
    assert next_open(folded, utc(2026, 4, 4, 14, 50)) == utc(2026, 4, 4, 15, 10)
    assert next_close(folded, utc(2026, 4, 4, 15, 10)) == utc(2026, 4, 4, 15, 20)


@pytest.mark.parametrize(
    ("zone", "opening_utc"),
    [
        ("Asia/Kolkata", utc(2026, 3, 2, 3, 30)),
        ("Asia/Kathmandu", utc(2026, 3, 2, 3, 15)),
        ("Australia/Eucla", utc(2026, 3, 2, 0, 15)),
        ("Pacific/Chatham", utc(2026, 3, 1, 19, 15)),
    ],
)
def test_fractional_hour_offsets(zone: str, opening_utc: datetime) -> None:
    """Zones at +5:30, +5:45, +8:45 and +13:45 open Monday 09:00 local at the right UTC instant."""
    schedule = sched(zone, {1: [("09:00", "17:00")]})
    assert next_open(schedule, utc(2026, 2, 28)) == opening_utc
    assert next_close(schedule, opening_utc) == opening_utc + timedelta(hours=8)


def test_moscow_rule_changes() -> None:
    """Europe/Moscow moved to permanent +04 in 2011 and back to +03 in 2014; openings follow."""
    zone = "Europe/Moscow"
    schedule = sched(zone, {day: [("09:00", "10:00")] for day in range(7)})
    assert next_open(schedule, utc(2011, 3, 20)) == utc(2011, 3, 20, 6)  # +03
    assert next_open(schedule, utc(2011, 11, 20)) == utc(2011, 11, 20, 5)  # +04 all winter
    assert next_open(schedule, utc(2014, 10, 25, 6)) == utc(2014, 10, 26, 6)  # back to +03
    night = sched(zone, {0: [("01:00", "02:00")]})  # 2014-10-26 01:00-02:00 happens twice
    assert next_open(night, utc(2014, 10, 25, 12)) == utc(2014, 10, 25, 21)
    assert next_close(night, utc(2014, 10, 25, 21)) == utc(2014, 10, 25, 23)
    assert_agrees_with_oracle(
        schedule, every(utc(2011, 3, 25), utc(2011, 3, 29), timedelta(hours=5))
    )
    assert_agrees_with_oracle(
        night, every(utc(2014, 10, 24), utc(2014, 10, 28), timedelta(hours=5))
    )


def test_sao_paulo_dropped_dst_in_2019() -> None:
    """America/Sao_Paulo skipped Sunday 00:00-01:00 on 2018-11-04 but has no DST after 2019."""
    zone = "America/Sao_Paulo"
    schedule = sched(zone, {0: [("00:00", "01:00")]})
    assert next_open(schedule, utc(2018, 11, 3, 12)) == utc(2018, 11, 11, 2)  # 00:00 -02
    assert next_open(schedule, utc(2019, 11, 2, 12)) == utc(2019, 11, 3, 3)  # 00:00 -03
    assert_agrees_with_oracle(
        schedule, every(utc(2018, 11, 2), utc(2018, 11, 6), timedelta(hours=7))
    )


def test_apia_skipped_friday_2011_12_30() -> None:
    """Pacific/Apia jumped from Thursday to Saturday: a Friday-only slot waits a further week."""
    zone = "Pacific/Apia"
    friday = sched(zone, {5: [("09:00", "17:00")]})
    assert next_open(friday, local(zone, 2011, 12, 29, 12)) == local(zone, 2012, 1, 6, 9)
    edges = sched(zone, {4: [("23:00", "24:00")], 6: [("00:00", "01:00")]})
    transition = utc(2011, 12, 30, 10)  # Thu 24:00 -10 == Sat 00:00 +14
    assert is_open(edges, transition - SECOND)
    assert is_open(edges, transition)
    assert next_close(edges, transition - timedelta(minutes=30)) == transition + timedelta(hours=1)
    assert_agrees_with_oracle(friday, every(utc(2011, 12, 28), utc(2012, 1, 2), timedelta(hours=9)))
    assert_agrees_with_oracle(
        edges, every(utc(2011, 12, 29), utc(2011, 12, 31), timedelta(hours=3))
    )


def test_casablanca_ramadan_and_troll_two_hour_shift() -> None:
    """Africa/Casablanca (Ramadan offset change) and Antarctica/Troll (+2h DST) match the oracle."""
    casablanca = sched("Africa/Casablanca", {0: [("02:00", "03:30")], 3: [("08:00", "09:00")]})
    assert_agrees_with_oracle(
        casablanca, every(utc(2026, 2, 13), utc(2026, 2, 17), timedelta(hours=5, minutes=3))
    )
    troll = sched("Antarctica/Troll", {0: [("01:30", "02:30"), ("03:00", "04:00")]})
    assert next_open(troll, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)  # 03:00 +02
    assert_agrees_with_oracle(
        troll, every(utc(2026, 10, 24), utc(2026, 10, 26), timedelta(hours=2))
    )


# --------------------------------------------------------------------------
# Property tests against the oracle
# --------------------------------------------------------------------------

BOUNDARY = st.one_of(
    st.integers(0, 1440),
    st.sampled_from([0, 30, 60, 90, 120, 135, 150, 165, 180, 210, 1380, 1410, 1440]),
)


@st.composite
def day_slots(draw: st.DrawFn) -> tuple[TimeSlot, ...]:
    """1-3 non-overlapping slots from sorted distinct boundaries (possibly touching)."""
    points = sorted(draw(st.sets(BOUNDARY, min_size=2, max_size=6)))
    chosen = draw(st.sets(st.integers(0, len(points) - 2), min_size=1, max_size=3))
    return tuple(TimeSlot(points[i], points[i + 1]) for i in sorted(chosen))


SCHEDULES = st.builds(
    WeeklySchedule,
    timezone=st.sampled_from(ZONES),
    days=st.dictionaries(st.integers(0, 6), day_slots(), max_size=7),
)

INPUT_ZONES = st.sampled_from(
    [
        UTC,
        ZoneInfo(NEW_YORK),
        ZoneInfo("Asia/Kathmandu"),
        timezone(timedelta(hours=-3, minutes=-30)),
    ]
)
# Imaginary local times (inside a DST gap) name no instant; the engine only passes real
# instants (from Redis TIME, in UTC), so they are not generated.
ANY_TIME = st.datetimes(
    datetime(2010, 1, 1), datetime(2035, 12, 31), timezones=INPUT_ZONES, allow_imaginary=False
)
NEAR_TRANSITIONS = st.builds(
    utc,
    st.integers(2010, 2035),
    st.sampled_from([2, 3, 4, 9, 10, 11]),
    st.integers(1, 28),
    st.integers(0, 23),
    st.sampled_from([0, 0, 15, 30, 45, 59]),
    st.sampled_from([0, 0, 0, 59]),
)
APIA_SKIP = st.datetimes(datetime(2011, 12, 20), datetime(2012, 1, 5), timezones=st.just(UTC))
INSTANTS = st.one_of(ANY_TIME, NEAR_TRANSITIONS, APIA_SKIP)

PROPERTY = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@settings(PROPERTY, max_examples=400)
@given(SCHEDULES, INSTANTS)
def test_is_open_matches_definition(schedule: WeeklySchedule, at: datetime) -> None:
    """is_open equals the definition evaluated on the local wall time from astimezone."""
    assert is_open(schedule, at) == oracle_is_open(schedule, at)


@settings(PROPERTY, max_examples=150)
@given(SCHEDULES, INSTANTS)
def test_next_open_matches_oracle(schedule: WeeklySchedule, at: datetime) -> None:
    """next_open is the first open instant >= at (open there, closed just before)."""
    opened = next_open(schedule, at)
    assert opened == oracle_next(schedule, at, want_open=True)
    if opened is None:
        assert not schedule.days
        return
    assert opened.tzinfo is UTC
    assert opened >= at
    assert is_open(schedule, opened)
    if opened > at:
        assert not is_open(schedule, at)
        assert not is_open(schedule, opened - SECOND)


@settings(PROPERTY, max_examples=150)
@given(SCHEDULES, INSTANTS)
def test_next_close_matches_oracle(schedule: WeeklySchedule, at: datetime) -> None:
    """next_close is `at` when closed, else the first closed instant after it, per brute force."""
    closed = next_close(schedule, at)
    if oracle_always_open(schedule):
        assert closed is None
        return
    assert closed == oracle_next(schedule, at, want_open=False)
    assert closed is not None
    assert closed.tzinfo is UTC
    assert closed >= at
    assert not is_open(schedule, closed)
    if closed > at:
        assert is_open(schedule, at)
        assert is_open(schedule, closed - SECOND)
