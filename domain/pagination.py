"""Cursor pagination shared by every list: opaque cursors, ``limit`` 1..500."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidInput, Problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list and the cursor of the next one (None on the last page)."""

    data: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of SPEC §4: ``{"data": [...], "nextCursor": ...}``."""
        return {"data": self.data, "nextCursor": self.next_cursor}


def check_limit(limit: int | None) -> int:
    """``limit`` or the default; refuses values outside 1..500."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput([Problem("limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")])
    return limit


def encode_cursor(position: str) -> str:
    """An opaque cursor for an internal position."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The internal position of a cursor made by :func:`encode_cursor`."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
        if not position:
            raise ValueError(cursor)
        return position
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput(
            [Problem("cursor", "is not a cursor this list gave out (use nextCursor as is)")]
        ) from None


def collect(fetch: Callable[..., Page], page_size: int = MAX_LIMIT) -> list[dict[str, Any]]:
    """Every item of a list, following ``nextCursor`` (``fetch(limit=, cursor=)``)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = fetch(limit=page_size, cursor=cursor)
        out += page.data
        cursor = page.next_cursor
        if cursor is None:
            return out
