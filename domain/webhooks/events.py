"""The event types a webhook endpoint may subscribe to, and its filter patterns.

The list is the one place that names them: every ``emit({type = ...})`` of
``domain/lua`` (``tests/unit/test_webhooks.py`` checks that none is missing) and the
workspace's own ``webhook.disabled``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

EVENT_TYPES: tuple[str, ...] = (
    "job.created",
    "job.started",
    "job.paused",
    "job.resumed",
    "job.updated",
    "job.config_applied",
    "job.phone_number_removed",
    "job.window_opened",
    "job.window_closed",
    "job.cancelled",
    "job.completed",
    "job.rows_appended",
    "job.reopened",
    "job.rows_requeued",
    "dial.started",
    "dial.status_changed",
    "dial.withdrawn",
    "dial.finished",
    "row.retry_scheduled",
    "row.suppressed",
    "row.frequency_capped",
    "row.skipped",
    "row.expired",
    "suppression.added",
    "number.quarantined",
    "number.restored",
    "webhook.disabled",
)
#: The prefixes a ``<prefix>.*`` pattern may name (``job``, ``dial``, ``row`` ...).
PREFIXES: frozenset[str] = frozenset(t.split(".")[0] for t in EVENT_TYPES)
#: At most this many patterns in one filter.
MAX_PATTERNS = 50


def all_patterns() -> list[str]:
    """Every pattern a filter may name: ``*``, each event type, each ``prefix.*``."""
    return ["*", *EVENT_TYPES, *sorted(p + ".*" for p in PREFIXES)]


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with one filter pattern, or None: ``*``, an event type, or ``row.*``."""
    if pattern == "*" or pattern in EVENT_TYPES:
        return None
    if pattern.endswith(".*") and pattern[:-2] in PREFIXES:
        return None
    return (
        f"{pattern!r} is not an event type nor a pattern: use '*', one of "
        f"{', '.join(EVENT_TYPES)}, or one of {', '.join(sorted(p + '.*' for p in PREFIXES))}"
    )


def normalized(patterns: Iterable[str]) -> list[str]:
    """The patterns without repeats, in their order (``*`` alone if it is among them)."""
    out = list(dict.fromkeys(patterns))
    return ["*"] if "*" in out else out


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether an event of ``event_type`` passes a filter of ``patterns``."""
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
