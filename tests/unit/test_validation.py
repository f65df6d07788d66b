"""Validation of the create and update bodies (SPEC §4.1), without Redis."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from producer.schemas.jobs import JobCreate, JobUpdate
from producer.validation import Context, Limits, path_of, problems_of

CTX = Context(
    dial_limit=10, phone_number_ids=frozenset({"pn_a", "pn_b"}), limits=Limits(max_rows=5)
)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Survey",
        "callAgentId": "agent",
        "maxConcurrentDials": 5,
        "fromPhoneNumberIds": ["pn_a"],
        "schedule": {
            "days": [{"dayOfWeek": 1, "timeSlots": [{"startTime": "09:00", "endTime": "17:00"}]}],
            "timezone": "America/New_York",
        },
        "rows": [{"toNumber": "+12125550123", "inputs": {"customer_name": "John"}}],
    }
    base.update(overrides)
    return base


def problems(data: Any, model: type[JobCreate] | type[JobUpdate] = JobCreate) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data, context={"batchdial": CTX})
    return {p.path: p.message for p in problems_of(info.value)}


def slots(*pairs: tuple[str, str], day: int = 1) -> dict[str, Any]:
    return {
        "days": [
            {"dayOfWeek": day, "timeSlots": [{"startTime": a, "endTime": b} for a, b in pairs]}
        ],
        "timezone": "UTC",
    }


def test_valid_body_is_accepted_and_numbers_are_normalized() -> None:
    """A valid body parses; numbers come out in E.164 form."""
    job = JobCreate.model_validate(body(), context={"batchdial": CTX})
    assert job.rows[0].toNumber == "+12125550123"
    assert job.schedule is not None
    assert job.schedule.days[0].timeSlots[0].minutes == (540, 1020)


def test_placeholder_number_is_refused_as_too_short() -> None:
    """+1234567890 (the seed's placeholder) is refused with a message that says why."""
    found = problems(body(rows=[{"toNumber": "+1234567890"}]))
    assert "too short" in found["rows[0].toNumber"]
    assert "not a dialable number" in found["rows[0].toNumber"]


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("2125550123", "E.164"),
        ("+", "not a phone number"),
        ("+999123", "not a phone number"),
        ("+19999999999", "not a dialable number"),
        ("+1212555012345678", "too long"),
        ("", "E.164"),
        ("+1 212 555 0123 abc", "not"),
    ],
)
def test_bad_numbers_are_refused_with_the_row_index(number: str, fragment: str) -> None:
    """Each undialable toNumber is refused at rows[i].toNumber with a reason."""
    found = problems(body(rows=[{"toNumber": "+12125550123"}, {"toNumber": number}]))
    assert list(found) == ["rows[1].toNumber"]
    assert fragment in found["rows[1].toNumber"]


def test_every_problem_is_listed_with_its_path() -> None:
    """One request with many problems reports all of them, each at its path."""
    found = problems(
        {
            "name": "",
            "callAgentId": 5,
            "maxConcurrentDials": 0,
            "fromPhoneNumberIds": [],
            "schedule": {
                "days": [
                    {"dayOfWeek": 7, "timeSlots": [{"startTime": "9:00", "endTime": "25:00"}]}
                ],
                "timezone": "Mars/Olympus",
            },
            "rows": [
                {"toNumber": "+12125550123", "inputs": {"n": 1}},
                {"toNumber": "+1234567890"},
                {"toNumber": "+12125550124", "extra": "x"},
            ],
            "bogus": True,
        }
    )
    assert set(found) == {
        "name",
        "callAgentId",
        "maxConcurrentDials",
        "fromPhoneNumberIds",
        "schedule.days[0].dayOfWeek",
        "schedule.days[0].timeSlots[0].startTime",
        "schedule.days[0].timeSlots[0].endTime",
        "schedule.timezone",
        "rows[0].inputs.n",
        "rows[1].toNumber",
        "rows[2].extra",
        "bogus",
    }
    assert found["bogus"] == "is not a known field"


def test_required_fields_are_named() -> None:
    """A body without the required fields names each one."""
    found = problems({})
    assert set(found) == {"name", "callAgentId", "maxConcurrentDials", "fromPhoneNumberIds"}
    assert all(m == "is required" for m in found.values())


@pytest.mark.parametrize(
    ("schedule", "path", "fragment"),
    [
        (slots(("09:00", "09:00")), "schedule.days[0].timeSlots[0]", "must be after"),
        (slots(("17:00", "09:00")), "schedule.days[0].timeSlots[0]", "over midnight"),
        (slots(("09:00", "12:00"), ("11:00", "13:00")), "schedule.days[0]", "overlap"),
        (slots(("24:00", "24:00")), "schedule.days[0].timeSlots[0].startTime", "24:00"),
        (slots(("09:00", "24:01")), "schedule.days[0].timeSlots[0].endTime", ""),
        (slots(("9:00", "10:00")), "schedule.days[0].timeSlots[0].startTime", "HH:MM"),
        (slots(("09:60", "10:00")), "schedule.days[0].timeSlots[0].startTime", ""),
        (slots(("09:00", "10:00"), day=-1), "schedule.days[0].dayOfWeek", ""),
        (slots(("09:00", "10:00"), day=7), "schedule.days[0].dayOfWeek", ""),
        ({**slots(("09:00", "10:00")), "timezone": "EST5EDT/x"}, "schedule.timezone", "IANA"),
        ({**slots(("09:00", "10:00")), "timezone": ""}, "schedule.timezone", "IANA"),
        ({"days": [], "timezone": 3}, "schedule.timezone", ""),
    ],
)
def test_bad_schedules_are_refused(schedule: dict[str, Any], path: str, fragment: str) -> None:
    """Slots that are empty, reversed, overlapping or malformed are refused at their path."""
    found = problems(body(schedule=schedule))
    assert path in found, found
    assert fragment in found[path]


def test_a_day_listed_twice_is_refused() -> None:
    """Each dayOfWeek may appear once."""
    schedule = {
        "days": [
            {"dayOfWeek": 2, "timeSlots": [{"startTime": "09:00", "endTime": "10:00"}]},
            {"dayOfWeek": 2, "timeSlots": [{"startTime": "11:00", "endTime": "12:00"}]},
        ],
        "timezone": "UTC",
    }
    assert "days[0] and days[1]" in problems(body(schedule=schedule))["schedule"]


def test_good_schedules_are_accepted() -> None:
    """24:00 ends, adjacent slots and several days are fine."""
    schedule = {
        "days": [
            {"dayOfWeek": 0, "timeSlots": [{"startTime": "00:00", "endTime": "24:00"}]},
            {
                "dayOfWeek": 6,
                "timeSlots": [
                    {"startTime": "13:00", "endTime": "17:00"},
                    {"startTime": "09:00", "endTime": "13:00"},
                ],
            },
        ],
        "timezone": "Asia/Kathmandu",
    }
    JobCreate.model_validate(body(schedule=schedule), context={"batchdial": CTX})


def test_cap_above_the_workspace_limit_is_refused() -> None:
    """maxConcurrentDials may not exceed the workspace's dial limit."""
    assert "dial limit of 10" in problems(body(maxConcurrentDials=11))["maxConcurrentDials"]


def test_pool_numbers_of_another_workspace_are_refused() -> None:
    """fromPhoneNumberIds must be numbers of the caller's workspace."""
    found = problems(body(fromPhoneNumberIds=["pn_a", "pn_other"]))
    assert "pn_other" in found["fromPhoneNumberIds"]


def test_inputs_must_be_strings_within_limits() -> None:
    """Input values must be strings, keys non-empty and both within their limits."""
    assert (
        "valid string"
        in problems(body(rows=[{"toNumber": "+12125550123", "inputs": {"a": 1}}]))[
            "rows[0].inputs.a"
        ]
    )
    long_value = {"toNumber": "+12125550123", "inputs": {"a": "x" * 1025}}
    assert "1025 characters" in problems(body(rows=[long_value]))["rows[0].inputs"]
    many = {"toNumber": "+12125550123", "inputs": {f"k{i}": "v" for i in range(51)}}
    assert "51 inputs" in problems(body(rows=[many]))["rows[0].inputs"]
    empty_key = {"toNumber": "+12125550123", "inputs": {"": "v"}}
    assert "1 to 64" in problems(body(rows=[empty_key]))["rows[0].inputs"]
    nested = {"toNumber": "+12125550123", "inputs": {"a": {"b": "c"}}}
    assert "rows[0].inputs.a" in problems(body(rows=[nested]))


def test_too_many_rows_are_refused_before_parsing_them() -> None:
    """More rows than the limit is one clear problem on `rows`."""
    rows = [{"toNumber": f"+1212555{i:04d}"} for i in range(6)]
    assert "at most 5" in problems(body(rows=rows))["rows"]


def test_the_same_number_twice_is_refused() -> None:
    """A number may appear once per job, so nobody is called twice by accident."""
    rows = [
        {"toNumber": "+12125550123"},
        {"toNumber": "+12125550124"},
        {"toNumber": "+12125550123"},
    ]
    assert "rows[2] repeats rows[0]" in problems(body(rows=rows))["rows"]


def test_update_takes_any_subset_and_refuses_nulls() -> None:
    """An update may give any configuration field; null is refused except for schedule."""
    change = JobUpdate.model_validate({"maxConcurrentDials": 3}, context={"batchdial": CTX})
    assert change.model_fields_set == {"maxConcurrentDials"}
    cleared = JobUpdate.model_validate({"schedule": None}, context={"batchdial": CTX})
    assert cleared.model_fields_set == {"schedule"}
    assert "may not be null" in problems({"name": None}, JobUpdate)["name"]
    assert "dial limit" in problems({"maxConcurrentDials": 99}, JobUpdate)["maxConcurrentDials"]
    assert "is not a known field" in problems({"rows": []}, JobUpdate)["rows"]


def test_path_of_formats_indexes_and_keys() -> None:
    """Locations print as the JSON path a user would write."""
    assert path_of(("rows", 3, "toNumber")) == "rows[3].toNumber"
    assert path_of(("rows", 0, "inputs", "k", "[key]")) == "rows[0].inputs.k(key)"
    assert path_of(()) == ""
