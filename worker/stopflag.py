"""A stop request that signal handlers may set: no lock is taken to set or read it.

A handler that called ``threading.Event.set()`` takes the Event's lock. When a second
signal arrives while the first handler (or the main thread's own ``Event.wait``) holds
that lock, Python runs the second handler in the same thread, which then waits for a
lock it holds itself, forever. A worker sent SIGTERM twice at once (by a process-group
kill and by its supervisor passing the signal on) hung so until its supervisor killed it.
"""

from __future__ import annotations

import time


class StopFlag:
    """Set once (from a signal handler or any thread); waited on by polling."""

    def __init__(self, tick_s: float = 0.05) -> None:
        self._reasons: list[str] = []  # list.append is atomic under the GIL: no lock
        self._tick_s = tick_s

    def set(self, reason: str = "") -> None:
        """Ask to stop (safe in a signal handler, also nested in another)."""
        self._reasons.append(reason)

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return bool(self._reasons)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until a stop is asked for (True) or ``timeout_s`` passed (False)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._reasons:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(self._tick_s)
        return True
