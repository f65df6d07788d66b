"""The workers' stop request (worker/stopflag.py): set from a signal handler, even one
that runs inside another handler, it never waits on a lock."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from worker.stopflag import StopFlag


def test_a_handler_interrupted_by_a_second_signal_still_stops() -> None:
    """The first SIGUSR1's handler sends a second one before it sets the flag, so the
    second handler runs nested in the first (as with two SIGTERMs at once); both set."""
    flag = StopFlag()
    depth: list[int] = []

    def handler(_signum: int, _frame: FrameType | None) -> None:
        depth.append(len(depth))
        if len(depth) == 1:
            os.kill(os.getpid(), signal.SIGUSR1)  # delivered inside this handler
        flag.set("signal")

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert flag.wait(5.0)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert depth == [0, 1]


def test_wait_times_out_and_another_thread_can_stop_it() -> None:
    flag = StopFlag(tick_s=0.01)
    assert flag.wait(0.05) is False and not flag.is_set()
    threading.Timer(0.05, flag.set, args=("thread",)).start()
    assert flag.wait(5.0) is True and flag.is_set()
