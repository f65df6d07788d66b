"""domain.time: zones of numbers, recipient hours, and group windows against brute force."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.time.eligibility import (
    JOB_ZONE,
    Hours,
    group_schedules,
    hours_schedule,
    never_together,
    next_eligible,
    window,
)
from domain.time.schedule import TimeSlot, WeeklySchedule
from domain.time.zones import zones_for_number

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
RUSSIAN_MOBILE = "+79161234567"
DAY_HOURS = Hours.parse("08:00", "21:00")


def utc(*fields: int) -> datetime:
    """An aware UTC datetime from (year, month, day[, hour[, minute[, second]]])."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, OSError):
        return False
    return True


ALL_ZONES = sorted(name for name in available_timezones() if _loads(name))


# --------------------------------------------------------------------------
# Brute-force oracle, written independently of the implementation
# --------------------------------------------------------------------------


def oracle_hours_open(hours: Hours, zone: str, at: datetime) -> bool:
    """The definition: the local wall time of ``at`` in ``zone`` lies in [start, end)."""
    wall = at.astimezone(ZoneInfo(zone))
    return hours.start <= wall.hour * 60 + wall.minute < hours.end


def oracle_job_open(schedule: WeeklySchedule, at: datetime) -> bool:
    """The job schedule's definition: wall time inside a slot of the local weekday."""
    wall = at.astimezone(ZoneInfo(schedule.timezone))
    minutes = wall.hour * 60 + wall.minute
    return any(
        slot.start_minute <= minutes < slot.end_minute
        for slot in schedule.days.get(wall.isoweekday() % 7, ())
    )


def oracle_open(
    zones: Sequence[str], hours: Hours, job: WeeklySchedule | None, at: datetime
) -> bool:
    """All recipient zones inside the hours and the job schedule (if any) open."""
    return all(oracle_hours_open(hours, zone, at) for zone in zones) and (
        job is None or oracle_job_open(job, at)
    )


def oracle_first(
    state: Callable[[datetime], bool], at: datetime, until: datetime, *, want: bool
) -> datetime | None:
    """First instant in [at, until] where ``state`` is ``want``, stepping whole UTC minutes.

    Wall times and offsets here are whole minutes, so the state changes at most once a
    minute; the first wanted probe is refined to the second by bisection.
    """
    start = at.astimezone(UTC)
    if state(start) is want:
        return start
    previous = start
    probe = start.replace(second=0, microsecond=0) + MINUTE
    while previous < until:
        probe = min(probe, until)
        if state(probe) is want:
            low, high = int(previous.timestamp()), int(probe.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if state(datetime.fromtimestamp(middle, UTC)) is want:
                    high = middle
                else:
                    low = middle
            return datetime.fromtimestamp(high, UTC)
        previous, probe = probe, probe + MINUTE
    return None


@functools.cache
def zone_transitions(zone: str) -> tuple[datetime, ...]:
    """UTC offset changes of ``zone`` in 2000-2037: weekly samples, bisected to the second."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    cursor = utc(2000, 1, 1)
    offset = cursor.astimezone(tz).utcoffset()
    while cursor < utc(2037, 12, 31):
        following = cursor + timedelta(days=7)
        following_offset = following.astimezone(tz).utcoffset()
        if following_offset != offset:
            low, high = cursor, following
            while high - low > SECOND:
                middle = low + (high - low) // 2
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high)
        cursor, offset = following, following_offset
    return tuple(found)


def schedules_of(
    zones: Sequence[str], hours: Hours, job: WeeklySchedule | None
) -> tuple[WeeklySchedule | None, ...]:
    """What the engine passes to ``window``: the job schedule and the group's schedules."""
    return (job, *group_schedules(zones, hours, "UTC"))


# --------------------------------------------------------------------------
# Zones of numbers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+12125550123", ("America/New_York",)),
        ("+13105550123", ("America/Los_Angeles",)),
        ("+18085550123", ("Pacific/Honolulu",)),
        ("+97714212345", ("Asia/Kathmandu",)),  # phonenumbers says Asia/Katmandu
        ("+919876543210", ("Asia/Kolkata",)),  # phonenumbers says Asia/Calcutta
        ("+19995550123", ()),  # no such area code: Etc/Unknown
        ("+1234567890", ()),  # too short
        ("+80012345678", ()),  # non-geographic
        ("not a number", ()),
        ("", ()),
    ],
)
def test_zones_for_number_examples(number: str, zones: tuple[str, ...]) -> None:
    """Known numbers map to their zone (legacy names made canonical), unknown ones to ()."""
    assert zones_for_number(number) == zones


def test_zones_for_number_names_always_load() -> None:
    """Every name returned for the test numbers loads in ZoneInfo, sorted and unique."""
    for number in ("+97714212345", RUSSIAN_MOBILE, "+447911123456", "+2917123456"):
        zones = zones_for_number(number)
        assert zones
        assert list(zones) == sorted(set(zones))
        for zone in zones:
            ZoneInfo(zone)


def test_russian_mobile_spans_many_zones_and_still_meets_from_08_to_21() -> None:
    """A +7 9xx mobile maps to 16 zones (UTC+2..+12): 08:00-21:00 still meets 3 hours a day."""
    zones = zones_for_number(RUSSIAN_MOBILE)
    assert len(zones) >= 11
    assert {"Europe/Moscow", "Asia/Kamchatka", "Europe/Bucharest"} <= set(zones)
    winter = utc(2026, 1, 12)
    assert not never_together(zones, DAY_HOURS, "UTC", winter)
    # Bucharest (+2) opens at 06:00Z, Kamchatka (+12) closes at 09:00Z.
    assert window(group_schedules(zones, DAY_HOURS, "UTC"), utc(2026, 1, 12, 7)) == (
        True,
        utc(2026, 1, 12, 9),
    )
    assert never_together(zones, Hours.parse("09:00", "17:00"), "UTC", winter)


@pytest.mark.parametrize("zone", ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu"])
def test_us_and_kathmandu_meet_from_08_to_21(zone: str) -> None:
    """A US zone and Kathmandu (+05:45) share part of 08:00-21:00 every day, per brute force."""
    zones = (zone, "Asia/Kathmandu")
    at = utc(2026, 3, 2, 12)
    assert not never_together(zones, DAY_HOURS, "UTC", at)
    found = next_eligible(group_schedules(zones, DAY_HOURS, "UTC"), at)
    expected = oracle_first(
        lambda t: oracle_open(zones, DAY_HOURS, None, t), at, at + 2 * DAY, want=True
    )
    assert found == expected
    assert found is not None


# --------------------------------------------------------------------------
# Hours and schedules
# --------------------------------------------------------------------------


def test_hours_parse() -> None:
    """Hours parse from HH:MM; the end may be 24:00."""
    assert Hours.parse("08:00", "21:00") == Hours(480, 1260)
    assert Hours.parse("00:00", "24:00") == Hours(0, 1440)
    assert str(Hours(480, 1260)) == "08:00-21:00"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("21:00", "08:00", "must be after"),
        ("08:00", "08:00", "must be after"),
        ("24:00", "24:00", "24:00"),
        ("8:00", "21:00", "invalid time"),
        ("08:00", "24:01", "invalid time"),
    ],
)
def test_hours_parse_refuses(start: str, end: str, message: str) -> None:
    """Empty, reversed (over midnight) and malformed hours are refused with a clear reason."""
    with pytest.raises(ValueError, match=message):
        Hours.parse(start, end)


def test_hours_constructor_checks_bounds() -> None:
    """Hours built from minutes must satisfy 0 <= start < end <= 1440."""
    for start, end in [(10, 10), (-1, 5), (0, 1441)]:
        with pytest.raises(ValueError, match="invalid hours"):
            Hours(start, end)


def test_hours_schedule_is_every_day_and_cached() -> None:
    """The hours become one slot on all seven days, and the same object comes back."""
    schedule = hours_schedule(DAY_HOURS, "Asia/Tokyo")
    assert schedule.timezone == "Asia/Tokyo"
    assert dict(schedule.days) == {day: (TimeSlot(480, 1260),) for day in range(7)}
    assert hours_schedule(DAY_HOURS, "Asia/Tokyo") is schedule


def test_group_schedules() -> None:
    """JOB_ZONE (and an empty zone set) stands for the job's zone; duplicates collapse."""
    zones = [JOB_ZONE, "Asia/Tokyo", "Europe/Paris", "Asia/Tokyo"]
    assert [s.timezone for s in group_schedules(zones, DAY_HOURS, "Europe/Paris")] == [
        "Asia/Tokyo",
        "Europe/Paris",
    ]
    assert [s.timezone for s in group_schedules((), DAY_HOURS, "Europe/Paris")] == ["Europe/Paris"]
    assert group_schedules(["Asia/Tokyo"], None, "UTC") == ()


def test_window_trivial_cases() -> None:
    """No schedule, None entries or all-day hours are open for good; naive times are refused."""
    at = utc(2026, 6, 1, 3)
    assert window((), at) == (True, None)
    assert window((None, None), at) == (True, None)
    all_day = group_schedules(["Asia/Tokyo"], Hours.parse("00:00", "24:00"), "UTC")
    assert window(all_day, at) == (True, None)
    assert next_eligible((None,), at) == at
    with pytest.raises(ValueError, match="aware"):
        window((None,), datetime(2026, 6, 1))  # naive on purpose


def test_window_examples_new_york() -> None:
    """New York 08:00-21:00: open until 21:00 EST, then closed until 08:00 the next day."""
    schedules = group_schedules(["America/New_York"], DAY_HOURS, "UTC")
    assert window(schedules, utc(2026, 1, 5, 14)) == (True, utc(2026, 1, 6, 2))
    assert window(schedules, utc(2026, 1, 6, 2)) == (False, utc(2026, 1, 6, 13))
    # Spring forward: 08:00 EDT on 2026-03-08 is 12:00Z.
    assert window(schedules, utc(2026, 3, 8, 3)) == (False, utc(2026, 3, 8, 12))


def test_never_meeting_in_winter_meets_after_the_dst_change() -> None:
    """New York and Puerto Rico 09:00-10:00 meet only on EDT: the search jumps to March."""
    zones = ("America/New_York", "America/Puerto_Rico")
    hours = Hours.parse("09:00", "10:00")
    at = utc(2026, 1, 10)
    found = next_eligible(group_schedules(zones, hours, "UTC"), at)
    assert found == utc(2026, 3, 8, 13)
    assert found == oracle_first(
        lambda t: oracle_open(zones, hours, None, t), at, utc(2026, 3, 9), want=True
    )
    assert never_together(("Asia/Tokyo", "America/New_York"), hours, "UTC", at)


def test_job_schedule_never_meeting_recipients() -> None:
    """A New York business-hours job never reaches Tokyo's 08:00-21:00: no next opening."""
    job = WeeklySchedule.from_hhmm("America/New_York", {d: [("09:00", "17:00")] for d in (1, 5)})
    schedules = (job, *group_schedules(["Asia/Tokyo"], DAY_HOURS, "UTC"))
    assert window(schedules, utc(2026, 3, 2, 15)) == (False, None)
    assert window(schedules, utc(2026, 3, 2, 16)) == (False, None)  # remembered, extended


def test_remembered_never_is_extended_when_asked_later() -> None:
    """A remembered "never within the horizon" is searched further when asked again later.

    Caracas went from -04:30 to -04:00 on 2016-05-01: only from then on do its
    09:00-09:30 and Puerto Rico's (-04:00) overlap, first at 13:00Z that day.
    """
    zones = ("America/Caracas", "America/Puerto_Rico")
    schedules = group_schedules(zones, Hours.parse("09:00", "09:30"), "UTC")
    meeting = utc(2016, 5, 1, 13)
    before = meeting - timedelta(days=370, hours=1)
    assert window(schedules, before) == (False, None)
    assert window(schedules, before + timedelta(minutes=59)) == (False, None)
    assert window(schedules, before + timedelta(hours=1)) == (False, meeting)
    assert window(schedules, before + timedelta(hours=2)) == (False, meeting)
    assert next_eligible(schedules, meeting - 3 * DAY) == meeting


# --------------------------------------------------------------------------
# Property tests against the oracle, over all zones and near DST transitions
# --------------------------------------------------------------------------

BOUNDARY = st.one_of(
    st.integers(0, 1440), st.sampled_from([0, 60, 120, 150, 180, 480, 540, 1260, 1380, 1440])
)


@st.composite
def hours_strategy(draw: st.DrawFn) -> Hours:
    """Any hours, often short (a few minutes) or ending at 24:00."""
    start = draw(st.integers(0, 1439) | st.sampled_from([0, 60, 90, 120, 150, 480, 1380]))
    end = draw(
        st.integers(start + 1, 1440) | st.just(1440) | st.integers(start + 1, min(start + 45, 1440))
    )
    return Hours(start, end)


@st.composite
def job_schedules(draw: st.DrawFn) -> WeeklySchedule | None:
    """No job schedule, or a random weekly one in any zone."""
    if draw(st.booleans()):
        return None
    days: dict[int, tuple[TimeSlot, ...]] = {}
    for day in draw(st.sets(st.integers(0, 6), min_size=1, max_size=7)):
        points = sorted(draw(st.sets(BOUNDARY, min_size=2, max_size=4)))
        days[day] = tuple(TimeSlot(a, b) for a, b in zip(points[::2], points[1::2], strict=False))
    return WeeklySchedule(draw(st.sampled_from(ALL_ZONES)), days)


NEAR = st.sampled_from([0, 1, -1, 59, -60, 1800, -1800, 3600, -3600, 5400]) | st.integers(
    -2 * 86400, 2 * 86400
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[str, ...], Hours, WeeklySchedule | None, datetime]:
    """1-4 zones, hours, an optional job schedule and an instant (often near a transition)."""
    zones = tuple(draw(st.lists(st.sampled_from(ALL_ZONES), min_size=1, max_size=4)))
    job = draw(job_schedules())
    transitions = [t for zone in zones for t in zone_transitions(zone)]
    if job is not None:
        transitions += zone_transitions(job.timezone)
    if transitions and draw(st.integers(0, 3)) > 0:
        at = draw(st.sampled_from(transitions)) + timedelta(seconds=draw(NEAR))
        at += timedelta(microseconds=draw(st.sampled_from([0, 0, 1, 999999])))
    else:
        at = draw(st.datetimes(datetime(2000, 1, 1), datetime(2037, 12, 1), timezones=st.just(UTC)))
    return zones, draw(hours_strategy()), job, at


PROPERTY = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
Case = tuple[tuple[str, ...], Hours, WeeklySchedule | None, datetime]


@settings(PROPERTY, max_examples=500)
@given(cases())
def test_window_state_matches_definition(case: Case) -> None:
    """window()[0] is true exactly when every zone is inside the hours and the job is open."""
    zones, hours, job, at = case
    assert window(schedules_of(zones, hours, job), at)[0] == oracle_open(zones, hours, job, at)


@settings(PROPERTY, max_examples=150)
@given(cases())
def test_next_eligible_matches_brute_force(case: Case) -> None:
    """next_eligible (with a two-day horizon) is the first all-open instant a minute scan finds."""
    zones, hours, job, at = case
    horizon = 2 * DAY
    expected = oracle_first(
        lambda t: oracle_open(zones, hours, job, t), at, at + horizon, want=True
    )
    assert next_eligible(schedules_of(zones, hours, job), at, horizon) == expected


@settings(PROPERTY, max_examples=150)
@given(cases(), st.sampled_from([SECOND, 7 * MINUTE, timedelta(hours=5)]))
def test_window_change_matches_brute_force(case: Case, later: timedelta) -> None:
    """The change window() names is the first instant the state flips (also when remembered)."""
    zones, hours, job, at = case
    schedules = schedules_of(zones, hours, job)
    for moment in (at, at + later):  # the second call may be answered from memory
        opened, change = window(schedules, moment)
        assert opened == oracle_open(zones, hours, job, moment)
        until = moment + 3 * DAY
        expected = oracle_first(
            lambda t: oracle_open(zones, hours, job, t), moment, until, want=not opened
        )
        if expected is not None:
            assert change == expected
            continue
        # Nothing within the scanned days: a later answer must be a true first flip.
        if change is not None:
            assert change > until
            assert change.tzinfo is UTC
            assert oracle_open(zones, hours, job, change) is not opened
            assert oracle_open(zones, hours, job, change - SECOND) is opened


@settings(PROPERTY, max_examples=30)
@given(st.sampled_from(ALL_ZONES), st.integers(2000, 2037))
def test_offset_changes_found_by_the_search_are_exact(zone: str, year: int) -> None:
    """The zone offset changes the search skips by equal an hourly scan bisected to the second."""
    from domain.time.instants import offset_changes as _offset_changes

    tz = ZoneInfo(zone)
    expected: list[datetime] = []
    cursor = utc(year, 1, 1)
    offset = cursor.astimezone(tz).utcoffset()
    while cursor < utc(year + 1, 1, 1):
        following = cursor + timedelta(hours=1)
        if following.astimezone(tz).utcoffset() != offset:
            expected.append(
                next(
                    cursor + timedelta(seconds=s)
                    for s in range(1, 3601)
                    if (cursor + timedelta(seconds=s)).astimezone(tz).utcoffset() != offset
                )
            )
            offset = following.astimezone(tz).utcoffset()
        cursor = following
    assert list(_offset_changes(zone, year)) == expected
