"""The stored form of a row (``:rows`` hash), as producer and worker read it.

JSON ``[toNumber, inputs]``; a job with recipientHours adds its time-zone group id
third; a row with fields beyond those (issue 17: ``externalId``, ``callAgentId``) holds
them as an object fourth (with ``""`` third when the job has no groups).
"""

from __future__ import annotations

from typing import Any


def row_extra(row: list[Any]) -> dict[str, Any]:
    """The row's extra fields (``{}`` for none)."""
    extra = row[3] if len(row) > 3 else None
    return extra if isinstance(extra, dict) else {}


def row_agent(row: list[Any]) -> str | None:
    """The agent that calls this row instead of the job's, or None."""
    agent = row_extra(row).get("callAgentId")
    return agent if isinstance(agent, str) and agent else None
