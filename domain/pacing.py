"""Pacing: at most N dial starts in any one-second window (SPEC §8.1), by GCRA.

GCRA (the generic cell rate algorithm) keeps one number per limit: the theoretical
arrival time (TAT) of the next start. A start at ``now`` conforms when
``now >= TAT - tolerance``; it then moves the TAT to ``max(TAT, now) + interval``. Any
k conforming starts then span at least ``(k - 1) * interval - tolerance``, so N + 1
starts span at least ``N * interval - tolerance``.

The guarantee "never more than N starts in any one-second window" therefore needs
``N * interval - tolerance >= 1 s``. With ``interval = 1/N`` the tolerance must be 0:
strict spacing, where every microsecond a claim arrives late is lost for good (the TAT
restarts from the late start), and a claim that arrives early is refused. We give the
rate a little room instead: ``interval = (1 s + TOLERANCE) / N`` and
``tolerance = N * interval - 1 s`` (at least ``TOLERANCE``). A claim may then come up to
20 ms early, or late, without costing the rate anything; the sustained rate is
``1 / interval = N / 1.02 ~ 0.98 N``; and any N + 1 starts still span at least one
second, so a window ``[t, t + 1 s)`` never holds more than N.

Everything is in microseconds of Redis ``TIME`` (the claim script computes it the same
way, in ``domain/lua/engine/claim.lua``; this module is the reference its tests check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECOND_US = 1_000_000
#: How early (or how late, after an early one) a start may be, in microseconds.
TOLERANCE_US = 20_000
#: Bounds of ``maxDialsPerSecond`` and ``BATCHDIAL_MAX_DIALS_PER_SECOND``.
MIN_DIALS_PER_SECOND, MAX_DIALS_PER_SECOND = 1, 1000


def interval_us(per_second: int) -> int:
    """The emission interval for ``per_second`` starts a second (µs, rounded up)."""
    return math.ceil((SECOND_US + TOLERANCE_US) / per_second)


def tolerance_us(per_second: int) -> int:
    """The burst tolerance that keeps N + 1 starts at least a second apart (µs)."""
    return per_second * interval_us(per_second) - SECOND_US


@dataclass(frozen=True, slots=True)
class Decision:
    """One GCRA check: whether a start at ``now`` conforms, the TAT to store if it
    starts, and how long to wait (µs) before one would conform (0 when it does)."""

    allowed: bool
    tat_us: int
    wait_us: int


def check(tat_us: int | None, now_us: int, per_second: int) -> Decision:
    """GCRA for one limit: ``tat_us`` is the stored TAT (None: never used or expired)."""
    tat = max(tat_us or 0, now_us)
    allowed_at = tat - tolerance_us(per_second)
    if now_us < allowed_at:
        return Decision(False, tat, allowed_at - now_us)
    return Decision(True, tat + interval_us(per_second), 0)


def max_in_window(starts_ms: list[int], window_ms: int = 1000) -> int:
    """The most starts in any half-open window ``[t, t + window_ms)`` (sliding)."""
    times = sorted(starts_ms)
    best = 0
    first = 0
    for last, at in enumerate(times):
        while at - times[first] >= window_ms:
            first += 1
        best = max(best, last - first + 1)
    return best


def sustained_rate(starts_ms: list[int]) -> float:
    """Starts per second over the span of the starts: (count - 1) / (last - first)."""
    if len(starts_ms) < 2:
        return 0.0
    span = max(starts_ms) - min(starts_ms)
    return (len(starts_ms) - 1) * 1000 / span if span else math.inf
