"""What is kept of a provider's details: the allowlist, the per-value and total bounds,
and the drop record (``domain/provider_details.py``), without Redis."""

from __future__ import annotations

import random
import string

from domain.provider_details import (
    DETAIL_FIELDS,
    MAX_DETAILS_BYTES,
    MAX_DROPPED_NAMES,
    MAX_NAME_BYTES,
    MAX_VALUE_CHARS,
    bound_details,
    encoded_size,
)


def test_allowlisted_scalars_are_kept_as_sent() -> None:
    """Within the bounds nothing is changed and no drop is recorded."""
    report = {"reason": "r" * MAX_VALUE_CHARS, "durationSeconds": 3, "sipCode": "486"}
    assert bound_details(report) == report
    assert bound_details({}) == {}


def test_what_is_not_kept_is_named_and_counted() -> None:
    """Unknown fields, long strings, containers and non-finite numbers are dropped."""
    report = {
        "sipCode": 200,
        "x": 1,
        "reason": "r" * (MAX_VALUE_CHARS + 1),
        "answeredBy": {"a": 1},
        "duration": float("nan"),
    }
    assert bound_details(report) == {
        "sipCode": 200,
        "droppedFields": ["x", "reason", "answeredBy", "duration"],
        "droppedFieldCount": 4,
    }


def test_the_drop_record_is_bounded() -> None:
    """At most MAX_DROPPED_NAMES names, each cut to MAX_NAME_BYTES of JSON."""
    report = {"\U0001f600" * 1000 + str(i): i for i in range(1000)}
    kept = bound_details(report)
    assert kept["droppedFieldCount"] == 1000
    names = kept["droppedFields"]
    assert isinstance(names, list) and len(names) == MAX_DROPPED_NAMES
    assert all(encoded_size(name) <= MAX_NAME_BYTES for name in names)


def test_random_reports_never_pass_the_total_bound() -> None:
    """Whatever mix of fields and values (seeded): at most MAX_DETAILS_BYTES in all."""
    rng = random.Random(13)
    alphabet = string.printable + "\u00e9\u202e\u0000\U0001f600"
    names = [*DETAIL_FIELDS["http"], "x", "y" * 500, "\U0001f600" * 40]
    for _ in range(300):
        report: dict[str, object] = {}
        for name in rng.sample(names, rng.randint(0, len(names))):
            length = rng.choice([0, 1, MAX_VALUE_CHARS - 1, MAX_VALUE_CHARS, 5000])
            report[name] = "".join(rng.choice(alphabet) for _ in range(length))
        kept = bound_details(report)
        assert encoded_size(kept) <= MAX_DETAILS_BYTES, kept
        assert kept.get("droppedFieldCount", 0) == len(report) - len(
            set(kept) - {"droppedFields", "droppedFieldCount"}
        )
