"""Times in events are ISO 8601 UTC, written by the Lua helper iso_ms of _lib.lua."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import fakeredis

from domain.time.timefmt import iso_ms

LIB = Path(__file__).resolve().parents[2] / "domain" / "lua" / "_lib.lua"


def test_the_lua_iso_helper_agrees_with_python_on_every_kind_of_day() -> None:
    """Epoch, leap days, century years, year ends, DST-irrelevant UTC instants: the Lua
    text equals Python's iso_ms."""
    script = LIB.read_text() + "\nreturn iso_ms(tonumber(ARGV[1]))\n"
    client = fakeredis.FakeRedis(decode_responses=True)
    instants = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2000, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2000, 3, 1, tzinfo=UTC),
        datetime(2024, 12, 31, 12, 0, 0, 1000, tzinfo=UTC),
        datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
        datetime(2100, 2, 28, 8, 30, 15, 250000, tzinfo=UTC),
        datetime(2100, 3, 1, tzinfo=UTC),
    ]
    step = 86_400_000 * 37 + 3_600_000 * 5 + 61_001  # ~every 37 days over 30 years
    millis = [round(t.timestamp() * 1000) for t in instants]
    millis += list(range(1_700_000_000_000, 2_650_000_000_000, step))
    for ms in millis:
        assert client.eval(script, 0, str(ms)) == iso_ms(ms), ms
