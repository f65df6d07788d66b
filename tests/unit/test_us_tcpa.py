"""callingRules us-tcpa (issue 19): the state table, the area-code table and the
schedules they make, checked against an independent reading of the table
(tests/support/tcpa_oracle.py) over every US area code and every hour of a year with
its two DST changes, and at random seconds (hypothesis)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import geocoder

from domain.rules import holidays
from domain.rules.tcpa import (
    area_codes,
    rule_schedules,
    state_for_number,
    state_rule,
    state_rules,
)
from domain.time.eligibility import next_eligible, window
from domain.time.schedule import is_open
from domain.time.zones import zones_for_number
from tests.support.tcpa_oracle import TABLE, allowed

YEAR = 2026  # DST starts 2026-03-08 and ends 2026-11-01 in the US
JOB_ZONE = "America/Chicago"


def _example(npa: str) -> str:
    return f"+1{npa}2010123"


@functools.cache
def combos() -> list[tuple[tuple[str, ...], str | None]]:
    """Every (recipient zones, state) an area code of the table gives."""
    found = {(zones_for_number(_example(npa)), state) for npa, state in area_codes().items()}
    return sorted(found, key=str)


def zones_of(zones: tuple[str, ...]) -> tuple[str, ...]:
    return zones or (JOB_ZONE,)


def test_every_us_area_code_phonenumbers_knows_has_its_state() -> None:
    """Each geographic US area code phonenumbers knows (a valid number whose geocoder
    names a place) is in the table, with the state the geocoder names."""
    codes = area_codes()
    checked = 0
    for npa in range(200, 1000):
        number = phonenumbers.parse(_example(str(npa)), None)
        if phonenumbers.region_code_for_number(number) != "US":
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        place = geocoder.description_for_number(number, "en")
        if place in ("", "United States"):
            assert str(npa) not in codes
            continue
        checked += 1
        assert str(npa) in codes, (npa, place)
        state = codes[str(npa)]
        names = {s["state"]: s["name"] for s in TABLE["states"]}
        if state in names and ", " not in place:
            assert place == names[state] or place.startswith(names[state]), (npa, place)
    assert checked >= 330
    assert state_for_number("+13055550123") == "FL"
    assert state_for_number("+18005550123") is None  # toll-free: federal only
    assert state_for_number("+16045550123") is None  # Canada


def test_the_table_has_the_mini_tcpa_states_with_their_sources() -> None:
    """Florida's FTSA (08:00-20:00, 3 calls / 24 h), Maryland alike, Oklahoma's 3 calls
    from 09:00 (its automatic dial announcing device rule) to 20:00, every rule cites a
    statute and a source and says how sure it is."""
    rules = state_rules()
    for code in ("FL", "OK", "MD"):
        assert rules[code].calls_per_24h == 3
    for code in ("FL", "MD"):
        assert rules[code].hours == ((480, 1200),) * 7
    assert rules["OK"].hours == ((540, 1200),) * 7
    assert "501.616" in rules["FL"].statute
    for rule in rules.values():
        assert rule.statute and rule.source.startswith("http")
        assert rule.confidence in ("statute-text", "secondary", "secondary-strictest")
        for name in rule.holidays:
            assert name in holidays.HOLIDAYS
    assert state_rule("NY").state is None  # no stricter rule: the federal one


@pytest.mark.parametrize(
    ("number", "local", "open_"),
    [
        ("+12125550123", "2026-06-03T07:59:59-04:00", False),  # New York: federal 08:00
        ("+12125550123", "2026-06-03T08:00:00-04:00", True),
        ("+12125550123", "2026-06-03T20:59:59-04:00", True),
        ("+12125550123", "2026-06-03T21:00:00-04:00", False),
        ("+13055550123", "2026-06-03T19:59:59-04:00", True),  # Florida: 20:00
        ("+13055550123", "2026-06-03T20:00:00-04:00", False),
        ("+12145550123", "2026-06-07T11:59:00-05:00", False),  # Texas, Sunday: noon
        ("+12145550123", "2026-06-07T12:00:00-05:00", True),
        ("+12055550123", "2026-11-26T12:00:00-06:00", False),  # Alabama, Thanksgiving
        ("+12055550123", "2026-11-27T12:00:00-06:00", True),
        ("+12055550123", "2026-12-01T12:00:00-06:00", False),  # Alabama, Rosa Parks Day
        ("+14015550123", "2026-08-10T12:00:00-04:00", False),  # Rhode Island, Victory Day
        ("+14015550123", "2026-08-11T17:59:00-04:00", True),
        ("+14015550123", "2026-08-11T18:00:00-04:00", False),
        ("+12155550123", "2026-04-03T12:00:00-04:00", False),  # Pennsylvania, Good Friday
        ("+18015550123", "2026-07-24T12:00:00-06:00", False),  # Utah, Pioneer Day
        ("+18015550123", "2026-07-26T12:00:00-06:00", False),  # Utah, Sunday
        ("+15025550123", "2026-06-03T09:59:00-04:00", False),  # Kentucky: 10:00
        ("+12055550123", "2026-04-27T12:00:00-05:00", False),  # Alabama, Confederate Memorial Day
        ("+12055550123", "2026-06-01T12:00:00-05:00", False),  # Alabama, Jefferson Davis' birthday
        ("+15045550123", "2026-08-31T12:00:00-05:00", False),  # Louisiana, Huey P. Long Day (Mon)
        ("+15045550123", "2026-09-01T12:00:00-05:00", True),
        ("+15045550123", "2026-11-02T12:00:00-06:00", False),  # Louisiana, All Saints' Day (Mon)
        ("+16175550123", "2026-06-03T19:59:00-04:00", True),  # Massachusetts: 20:00
        ("+16175550123", "2026-06-03T20:00:00-04:00", False),
        ("+18015550123", "2027-11-02T12:00:00-06:00", False),  # Utah, Election Day (from 2027)
        ("+13125550123", "2026-06-07T11:59:00-05:00", False),  # Illinois, Sunday: noon
        ("+13125550123", "2026-06-07T12:00:00-05:00", True),
        ("+13125550123", "2026-06-08T09:00:00-05:00", True),  # Illinois, Monday: 09:00
        ("+14055550123", "2026-06-03T08:59:00-05:00", False),  # Oklahoma: 09:00 (ADAD rule)
        ("+14055550123", "2026-06-03T09:00:00-05:00", True),
        ("+14055550123", "2026-06-03T20:00:00-05:00", False),  # Oklahoma: 20:00
    ],
)
def test_known_instants(number: str, local: str, open_: bool) -> None:
    """Hours, Sundays and holidays of a few states at known instants."""
    at = datetime.fromisoformat(local)
    schedules = rule_schedules(zones_for_number(number), state_for_number(number), JOB_ZONE)
    assert all(is_open(s, at) for s in schedules) is open_


def test_every_area_code_every_hour_of_a_year_matches_the_table() -> None:
    """For every (zones, state) of every US area code, at every hour of 2026 and a second
    before it (so both sides of each boundary, across both DST changes), the schedules
    are open exactly when the table allows a call in every zone."""
    start = datetime(YEAR, 1, 1, tzinfo=UTC)
    checked = 0
    for zones, state in combos():
        schedules = rule_schedules(zones, state, JOB_ZONE)
        for hour in range(366 * 24):
            for at in (start + timedelta(hours=hour), start + timedelta(hours=hour, seconds=-1)):
                expect = allowed(at, zones_of(zones), state)
                assert all(is_open(s, at) for s in schedules) is expect, (zones, state, at)
                checked += 1
    assert checked == len(combos()) * 366 * 48


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0),
    seconds=st.integers(min_value=0, max_value=366 * 86400),
)
def test_a_held_row_waits_until_the_first_allowed_instant(index: int, seconds: int) -> None:
    """At a random second of the year: when the rules hold a row, the instant the engine
    waits for (next_eligible, as the queue's nextEligibleAt and the pump's wake-up) is
    allowed by the table and no minute before it is; when they allow it, the window
    closes no later than the table says."""
    zones, state = combos()[index % len(combos())]
    at = datetime(YEAR, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    schedules = rule_schedules(zones, state, JOB_ZONE)
    open_now, change = window(schedules, at)
    assert open_now is allowed(at, zones_of(zones), state)
    if open_now:
        assert change is not None
        assert not allowed(change, zones_of(zones), state)
        assert allowed(change - timedelta(seconds=1), zones_of(zones), state)
        return
    opens = next_eligible(schedules, at)
    assert opens is not None and opens == change
    assert allowed(opens, zones_of(zones), state)
    assert not allowed(opens - timedelta(seconds=1), zones_of(zones), state)
    moment = at
    while moment < opens - timedelta(minutes=30):
        assert not allowed(moment, zones_of(zones), state), (zones, state, moment)
        moment += timedelta(minutes=30)


def test_holiday_dates() -> None:
    """The moving holidays land where their statutes put them."""

    def one(name: str, year: int) -> list[str]:
        return sorted(d.isoformat() for d in holidays.HOLIDAYS[name](year))

    assert one("thanksgiving", 2026) == ["2026-11-26"]
    assert one("good_friday", 2026) == ["2026-04-03"]
    assert one("mardi_gras", 2027) == ["2027-02-09"]
    assert one("memorial", 2026) == ["2026-05-25"]
    assert one("election_day", 2026) == ["2026-11-03"]
    assert one("independence", 2026) == ["2026-07-03", "2026-07-04"]  # observed on Friday
    assert one("christmas", 2022) == ["2022-12-25", "2022-12-26"]  # observed on Monday
    assert one("juneteenth_ut", 2026) == ["2026-06-15"]  # a Friday: the Monday before
    assert one("juneteenth_ut", 2027) == ["2027-06-21"]  # a Saturday: the Monday after
    assert one("confederate_memorial", 2026) == ["2026-04-27"]  # Alabama: 4th Monday of April
    assert one("confederate_memorial", 2027) == ["2027-04-26"]
    assert one("jefferson_davis", 2026) == ["2026-06-01"]  # Alabama: 1st Monday of June
    assert one("jefferson_davis", 2027) == ["2027-06-07"]
    assert one("huey_long", 2026) == ["2026-08-30", "2026-08-31"]  # a Sunday: and the Monday
    assert one("huey_long", 2027) == ["2027-08-30"]
    assert one("all_saints", 2026) == ["2026-11-01", "2026-11-02"]  # a Sunday: and the Monday
    assert one("all_saints", 2025) == ["2025-10-31", "2025-11-01"]  # a Saturday: and the Friday


def test_the_docs_show_every_rule_of_the_table() -> None:
    """docs/calling-rules.md lists each state rule with its statute and how sure it is."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs/calling-rules.md").read_text()
    for rule in state_rules().values():
        line = next((x for x in text.splitlines() if x.startswith(f"| {rule.state} ")), "")
        assert rule.statute in line and rule.confidence in line, rule.state
