"""Test doubles and helpers for the engine: a dialer that counts, event replays."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.dialers.simulated import SimulatedDialer


class CountingDialer:
    """A simulated dialer that counts simultaneous calls, overall and per caller id."""

    def __init__(self, call_seconds: float, outcome: str = "completed") -> None:
        self.inner = SimulatedDialer(call_seconds, {outcome: 1.0})
        self.lock = threading.Lock()
        self.live = 0
        self.peak = 0
        self.live_by_number: Counter[str] = Counter()
        self.peak_by_number: Counter[str] = Counter()
        self.requests: list[DialRequest] = []

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        with self.lock:
            self.requests.append(request)
            self.live += 1
            self.peak = max(self.peak, self.live)
            self.live_by_number[request.from_number] += 1
            n = self.live_by_number[request.from_number]
            self.peak_by_number[request.from_number] = max(
                self.peak_by_number[request.from_number], n
            )

        def ended(status: str, reason: str) -> None:
            self._down(request)
            on_end(status, reason)

        placed = self.inner.place(request, ended)
        if placed.status is not None:
            self._down(request)
        return placed

    def _down(self, request: DialRequest) -> None:
        with self.lock:
            self.live -= 1
            self.live_by_number[request.from_number] -= 1

    def close(self) -> None:
        self.inner.close()


class HangingDialer:
    """A dialer whose calls never end (the provider never answers back)."""

    def __init__(self, handoff: bool = False) -> None:
        self.handoff = handoff
        self.requests: list[DialRequest] = []

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        self.requests.append(request)
        return Placed(handoff=self.handoff)

    def close(self) -> None:
        pass


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ScriptedDialer:
    """Zero-length calls whose outcome is scripted per number and attempt."""

    def __init__(self, outcomes: dict[str, list[str]], default: str = "completed") -> None:
        self.outcomes = outcomes
        self.default = default
        self.lock = threading.Lock()
        self.requests: list[DialRequest] = []

    def place(self, request: DialRequest, on_end: OnEnd) -> Placed:
        with self.lock:
            self.requests.append(request)
        script = self.outcomes.get(request.to_number, [])
        status = script[request.attempt - 1] if request.attempt <= len(script) else self.default
        return Placed(status=status)

    def numbers(self) -> Counter[str]:
        """How many times each number was dialed."""
        with self.lock:
            return Counter(r.to_number for r in self.requests)

    def close(self) -> None:
        pass
