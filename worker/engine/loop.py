"""The process's event loop: one asyncio loop on one thread, where calls in progress live.

The dial actor claims a row on a dramatiq thread, hands the placement to this loop
(``asyncio.run_coroutine_threadsafe``, not waiting) and returns, so that a call in
progress holds no thread. dramatiq's own ``AsyncIO`` middleware does not do this: its
``EventLoopThread.run_coroutine`` waits on the coroutine's future, so an async actor
still holds its thread until the carrier answers.

Nothing that may block (Redis, sleeps) runs on the loop: the coroutines placed here
await the network and timers only, and hand what they learn back to threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class EventLoop:
    """One asyncio event loop on a daemon thread of its own, started on first use."""

    def __init__(self, name: str = "batchdial-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started if need be)."""
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    loop.close()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on the loop; returns at once (the future is there to look at,
        never to wait on from a worker thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop after ``delay_s`` seconds (thread-safe)."""
        loop = self.loop
        loop.call_soon_threadsafe(loop.call_later, delay_s, callback)

    def in_loop(self) -> bool:
        """Whether the caller runs on the loop's thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel what still runs on the loop, stop it and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout_s)
        except Exception:  # stopping anyway: what is left is abandoned (leases lapse)
            log.warning("event_loop_stop_incomplete")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
