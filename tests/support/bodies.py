"""Request bodies: the SPEC §4.1 sample job, defined once, and :func:`job_body`, the one
builder of job bodies every suite uses."""

from __future__ import annotations

import copy
from typing import Any

#: The schedule of the SPEC §4.1 sample: Mondays 09:00-12:00 and 13:00-17:00, New York.
_SAMPLE_SCHEDULE: dict[str, Any] = {
    "days": [
        {
            "dayOfWeek": 1,
            "timeSlots": [
                {"startTime": "09:00", "endTime": "12:00"},
                {"startTime": "13:00", "endTime": "17:00"},
            ],
        }
    ],
    "timezone": "America/New_York",
}

#: The SPEC §4.1 sample job, but for ``fromPhoneNumberIds`` (a workspace's own ids).
_SAMPLE_JOB: dict[str, Any] = {
    "name": "Customer Survey Campaign",
    "callAgentId": "your-agent-id",
    "maxConcurrentDials": 5,
    "schedule": _SAMPLE_SCHEDULE,
    "rows": [
        {
            "toNumber": "+12125550123",
            "inputs": {"customer_name": "John Doe", "account_id": "ACC123"},
        }
    ],
}


def sample_schedule() -> dict[str, Any]:
    """A fresh copy of the SPEC sample's schedule."""
    return copy.deepcopy(_SAMPLE_SCHEDULE)


def sample_job(phone_number_ids: list[str]) -> dict[str, Any]:
    """A fresh copy of the SPEC sample job, calling from ``phone_number_ids``."""
    return {**copy.deepcopy(_SAMPLE_JOB), "fromPhoneNumberIds": phone_number_ids}


def rows_of(count: int) -> list[dict[str, Any]]:
    """``count`` rows with distinct dialable New York numbers and an input each."""
    return [
        {"toNumber": f"+1212555{i:04d}", "inputs": {"customer_name": f"C{i}"}} for i in range(count)
    ]


def job_body(
    ws: dict[str, Any],
    rows: int | list[dict[str, Any]] = 3,
    cap: int = 5,
    *,
    every_number: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid create body for workspace ``ws`` (as ``workspace create`` returns it): the
    SPEC sample's name and schedule, ``rows`` (a count of distinct dialable numbers, or
    the rows themselves), ``cap`` as maxConcurrentDials, calling from the workspace's
    first number (every number of its pool with ``every_number``); ``overrides`` replace
    fields (``schedule=None``: a job that may dial at any time)."""
    numbers = ws["phoneNumbers"] if every_number else ws["phoneNumbers"][:1]
    body: dict[str, Any] = {
        "name": _SAMPLE_JOB["name"],
        "callAgentId": "agent-1",
        "maxConcurrentDials": cap,
        "fromPhoneNumberIds": [p["id"] for p in numbers],
        "schedule": sample_schedule(),
        "rows": rows_of(rows) if isinstance(rows, int) else rows,
    }
    body.update(overrides)
    return body
