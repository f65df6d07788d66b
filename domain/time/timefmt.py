"""Timestamps: Redis hands out milliseconds; the API speaks ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(ms: int | str | None) -> str | None:
    """``1795938570743`` → ``2026-11-29T07:49:30.743Z`` (None stays None)."""
    if ms is None or ms == "":
        return None
    dt = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def stream_id_ms(entry_id: str) -> int:
    """The milliseconds part of a Redis stream entry id (``1795938570743-0``)."""
    return int(entry_id.split("-", 1)[0])
