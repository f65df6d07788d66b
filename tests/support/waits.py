"""Waiting for a condition: poll it until it holds, fail at a deadline. No test sleeps
a fixed time to let something happen; it waits for the thing to have happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How long to wait between two checks of a condition (seconds).
POLL_S = 0.02


def wait_until(
    condition: Callable[[], T | None], timeout: float, what: str, *, every: float = POLL_S
) -> T:
    """Poll ``condition`` until it returns something truthy and return that; fail with
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)  # the poll interval, not a wait for the condition


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    wait_until(lambda: bool(condition()), timeout, what)


def seconds_until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; return the seconds that took."""
    started = time.monotonic()
    wait_for(condition, timeout, what)
    return time.monotonic() - started
