"""The carriers' status callbacks' one hop from the event loop to a thread (their Redis
calls block), on a pool of the API's own: ``loop.run_in_executor``.

Why not Starlette's ``run_in_threadpool`` there: anyio's hop adds a checkpoint (a
``sleep(0)``: one more turn of the loop) and a capacity limiter around each call. A
py-spy of the API taking 200 callbacks a second (bench 7, cap 200, 2026-12-02) had
19 % of its GIL samples in that hop, both sides counted; with this one the API's CPU
per callback fell by about 5 % (2.28-2.38 ms to 2.06-2.27 ms, A/B in the same minutes).
The other routes keep Starlette's.

Few threads: a burst of callbacks (a wave of calls ending together) spread over 32 of
them had them all contend for the GIL with the loop; with 4, in bench 7's callback
style at cap 200 (1x8, 4 runs each, alternated, 2026-12-04), refill p50 was 6.7-10.3 ms
against 11.5-14.5, the loss after the first fill 1.65 % against 2.05 %, API CPU per
callback over the stand-in's 1.38 against 1.42. Four keep a callback's Redis call from
waiting on another's at 200 a second (each takes well under a millisecond).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Threads for callbacks at most (anyio's default limiter allows 40 for every route).
CALLBACK_THREADS = 4

#: The pool (ThreadPoolExecutor starts its threads on first use, not here).
_POOL = ThreadPoolExecutor(CALLBACK_THREADS, thread_name_prefix="batchdial-callback")


async def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` on a callback thread and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))
