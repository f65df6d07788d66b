"""Validation of the create and update bodies (SPEC §4.1), without Redis."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from domain.time.zones import iana_zone_names
from producer.phones import PHONE_PATTERN, normalize_phone_number, phone_digits
from producer.schemas.jobs import JobCreate, JobUpdate
from producer.schemas.workspace import WorkspaceUpdate
from producer.textrules import IDENTIFIER_PATTERN, first_forbidden_char
from producer.validation import Context, Limits, check_timezone, path_of, problems_of

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
        (slots(("09:00", "10:00"), day=-1), "schedule.days[0].dayOfWeek", "0 = Sunday"),
        (slots(("09:00", "10:00"), day=7), "schedule.days[0].dayOfWeek", "6 = Saturday, got 7"),
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


# -- issue 13: numbers, zones, characters, integers -----------------------------------


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("+1 212 555 0123 ext 5", "extensions are not supported: 'ext 5'"),
        ("+1 212 555 0123 x5", "extensions are not supported: 'x5'"),
        ("+1212-555-0123;ext=5", "extensions are not supported: ';ext=5'"),
        ("+12125550123 #5", "extensions are not supported"),
        ("+12125550123\u0000", "U+0000 (NUL) at position 12"),
        ("+12125550123\n", "U+000A (LF)"),
        ("+1212\u202e5550123", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("+8613800138000;phone-context=x", "parameters are not allowed in a phone number: ';phone"),
        ("+1-800-FLOWERS", "letters are not allowed"),
        ("+917410410123*", "'*' not allowed"),
        ("+1 212 555 0123 /", "'/' not allowed"),
        ("+1--212--555", "too short"),
        ("+1-212-555-0123-", "separators go between digits only"),
        ("+1 212   555 0123", "at most two in a row"),
        ("+0 212 555 0123", "no country code starts with 0"),
        ("+44 (0)20 7946 0958", "would be stored as +442079460958"),
    ],
)
def test_numbers_that_would_be_altered_are_refused_with_the_reason(
    number: str, fragment: str
) -> None:
    """Item 5 (issue 13): nothing phonenumbers would read as another number gets in."""
    found = problems(body(rows=[{"toNumber": number}]))
    assert fragment in found["rows[0].toNumber"]
    assert "\u0000" not in found["rows[0].toNumber"]
    assert "\u202e" not in found["rows[0].toNumber"]


@pytest.mark.parametrize(
    "number", ["+12125550123", "+1 212 555 0123", "+1-212-555-0123", "+1 (212) 555.0123"]
)
def test_e164_with_separators_is_stored_as_its_digits(number: str) -> None:
    """Spaces, dashes, dots and parentheses are separators only."""
    assert normalize_phone_number(number) == "+12125550123"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(PHONE_PATTERN, fullmatch=True),
        st.text(alphabet="+0123456789 ().-;#xX*\u0000", max_size=30),
    )
)
def test_the_documented_pattern_is_exactly_the_accepted_syntax(text: str) -> None:
    """The OpenAPI pattern and the syntax check agree on every string: a string the
    pattern refuses is refused, and one it admits fails, if at all, as an undialable
    number (the custom format), never for its syntax."""
    matches = re.fullmatch(PHONE_PATTERN.removeprefix("^").removesuffix("$"), text) is not None
    try:
        phone_digits(text)
    except PydanticCustomError:
        assert not matches, text
    else:
        assert matches, text


@pytest.mark.parametrize(
    "zone", ["localtime", "Factory", "posixrules", "right/UTC", "posix/UTC", "Etc/GMT+14", "utc"]
)
def test_names_that_are_no_iana_zone_are_refused(zone: str) -> None:
    """Item 6 (issue 13): localtime and Factory are host files, not zones."""
    found = problems(body(schedule={**slots(("09:00", "10:00")), "timezone": zone}))
    assert "not an IANA timezone name" in found["schedule.timezone"]
    row = {"toNumber": "+12125550123", "timezone": zone}
    assert "not an IANA timezone name" in problems(body(rows=[row]))["rows[0].timezone"]


def test_every_zone_of_the_tz_database_is_accepted() -> None:
    """Each zone of zone1970.tab and the common links (US/Eastern, UTC) are zones."""
    table = Path("/usr/share/zoneinfo/zone1970.tab")
    if not table.exists():
        pytest.skip("no system tz data")
    names = [
        line.split("\t")[2] for line in table.read_text().splitlines() if not line.startswith("#")
    ]
    assert len(names) > 300
    for name in [*names, "UTC", "US/Eastern", "Asia/Calcutta", "Etc/GMT-14"]:
        assert check_timezone(name) == name
    assert not any(n.startswith(("posix/", "right/")) for n in iana_zone_names())


def test_the_identifier_pattern_is_exactly_the_identifier_check() -> None:
    """Every BMP character: the document's pattern refuses it iff check_identifier does."""
    pattern = re.compile(IDENTIFIER_PATTERN)
    for code in [*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0xE0001]:
        char = chr(code)
        assert (pattern.fullmatch(char) is None) == (first_forbidden_char(char) is not None)
    for char in ["\u0000", "\r", "\n", "\t", "\u007f", "\u0085", "\u009f", "\u202a", "\u202e"]:
        assert first_forbidden_char(f"a{char}") == (1, char)
    for char in ["\u2066", "\u2069", "\u200b", "\u200f", "\u2060", "\ufeff", "\u2028"]:
        assert first_forbidden_char(f"a{char}") == (1, char)
    assert first_forbidden_char("Café 🎉 日本 \u00e9\u0301") is None


@pytest.mark.parametrize("char", ["\u0000", "\r\n", "\u202e", "\u200b", "\ufeff"])
def test_identifiers_and_keys_refuse_control_and_invisible_characters(char: str) -> None:
    """Item 8 (issue 13): name, callAgentId, ids and input names, each at its path."""
    row = {"toNumber": "+12125550123", "inputs": {f"k{char}": "v"}}
    found = problems(
        body(
            name=f"n{char}", callAgentId=f"a{char}", fromPhoneNumberIds=[f"pn_a{char}"], rows=[row]
        )
    )
    assert set(found) == {"name", "callAgentId", "fromPhoneNumberIds[0]", "rows[0].inputs"}
    assert "control or invisible characters" in found["name"]
    update = problems({"name": f"n{char}", "callAgentId": f"a{char}"}, JobUpdate)
    assert set(update) == {"name", "callAgentId"}


def test_input_values_refuse_only_nul_and_lone_surrogates() -> None:
    """A value keeps every other character exactly; NUL and a lone surrogate are refused."""
    kept = "a\tb\r\nc \u202e \u200b \ufeff é\u0301"
    job = JobCreate.model_validate(
        body(rows=[{"toNumber": "+12125550123", "inputs": {"k": kept}}]),
        context={"batchdial": CTX},
    )
    assert job.rows[0].inputs == {"k": kept}
    for bad in ["a\u0000", "\ud800"]:
        found = problems(body(rows=[{"toNumber": "+12125550123", "inputs": {"k": bad}}]))
        assert "must not contain" in found["rows[0].inputs"]


def test_integral_numbers_are_integers_in_every_integer_field() -> None:
    """``3.0`` is 3 (JSON Schema's integer); ``3.5``, ``True``, ``"3"`` and 2**60.0 are not."""
    data = body(maxConcurrentDials=3.0)
    data["schedule"]["days"][0]["dayOfWeek"] = 1.0
    data["retry"] = {"maxAttempts": 2.0, "backoffSeconds": [60.0, 1e2]}
    job = JobCreate.model_validate(data, context={"batchdial": CTX})
    assert (job.maxConcurrentDials, job.retry and job.retry.backoffSeconds) == (3, [60, 100])
    assert type(job.maxConcurrentDials) is int
    assert JobUpdate.model_validate({"maxConcurrentDials": 4.0}).maxConcurrentDials == 4
    update = WorkspaceUpdate.model_validate({"maxCallsPerNumberPerDay": 90.0})
    assert update.model_dump(exclude_unset=True) == {"maxCallsPerNumberPerDay": 90}
    assert WorkspaceUpdate.model_validate({"maxDialsPerSecond": 5.0}).maxDialsPerSecond == 5
    for bad in [3.5, True, "3", float(2**60), float("inf")]:
        assert "maxConcurrentDials" in problems(body(maxConcurrentDials=bad))
    assert "too large" in problems(body(maxConcurrentDials=float(2**60)))["maxConcurrentDials"]


def test_the_document_says_an_update_changes_something() -> None:
    """PUT ``{}`` is refused (nothing to change), so the schema says minProperties 1
    (schemathesis found ``{}`` refused as a schema-valid body)."""
    assert JobUpdate.model_json_schema()["minProperties"] == 1
