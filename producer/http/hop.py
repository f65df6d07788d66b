"""The carriers' status callbacks' one hop from the event loop to a thread (their Redis
calls block), on a pool of the API's own: ``loop.run_in_executor``.

Why not Starlette's ``run_in_threadpool`` there: anyio's hop adds a checkpoint (a
``sleep(0)``: one more turn of the loop) and a capacity limiter around each call. A
py-spy of the API taking 200 callbacks a second (bench 7, cap 200, 2026-12-02) had
19 % of its GIL samples in that hop, both sides counted; with this one the API's CPU
per callback fell by about 5 % (2.28-2.38 ms to 2.06-2.27 ms, A/B in the same minutes).
The other routes keep Starlette's.
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
CALLBACK_THREADS = 32

#: The pool (ThreadPoolExecutor starts its threads on first use, not here).
_POOL = ThreadPoolExecutor(CALLBACK_THREADS, thread_name_prefix="batchdial-callback")


async def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` on a callback thread and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))
