"""How the namespace-wide indexes name their members: a job in the wake-up index
(``<ws>|<job>``), a dial in the deadline index (``<ws>|<job>|<dial>``)."""

from __future__ import annotations


def job_member(ws_id: str, job_id: str) -> str:
    """How a job is named in the global wake-up index."""
    return f"{ws_id}|{job_id}"


def dial_member(ws_id: str, job_id: str, dial_id: str) -> str:
    """How a dial is named in the global deadline index."""
    return f"{ws_id}|{job_id}|{dial_id}"


def split_job_member(member: str) -> tuple[str, str]:
    """``(ws_id, job_id)`` of a wake-up index member (see :func:`job_member`)."""
    ws_id, _, job_id = member.partition("|")
    return ws_id, job_id


def split_dial_member(member: str) -> tuple[str, str, str]:
    """``(ws_id, job_id, dial_id)`` of a deadline index member (see :func:`dial_member`)."""
    ws_id, job_id, dial_id = member.split("|")
    return ws_id, job_id, dial_id
