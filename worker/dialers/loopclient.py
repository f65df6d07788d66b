"""The ``httpx.AsyncClient``\\ s of a carrier's dialer, made on the event loop that uses
them and closed there: what the Twilio, Telnyx and LiveKit dialers share (the ``http``
dialer, webhook deliveries and the pre-dial hook use ``worker/http1.py``).

Requests rotate over :data:`POOLS` clients rather than one: httpcore's connection pool
looks at every connection and every waiting request of its pool on each request
(``AsyncConnectionPool._assign_requests_to_connections``), so with hundreds of calls
placed at once one pool spent a third of a worker's CPU on that (py-spy, bench 7 at
cap 200); eight pools each see an eighth of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import httpx

#: Clients (connection pools) the requests rotate over.
POOLS = 8
#: Connections each pool keeps open for reuse (there is no limit on how many are open
#: at once: the caps bound the calls, and each call in progress may hold one).
KEEPALIVE_PER_POOL = 32


class LoopClient:
    """Lazily made ``AsyncClient``\\ s (one belongs to one loop) and their clean close."""

    def __init__(
        self,
        timeout_s: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        #: A client given (tests: a mock transport) is the only one.
        self._clients: list[httpx.AsyncClient] = [client] if client is not None else []
        self._turn = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        """The next client, made on first use (call it on the loop that will use it)."""
        self._loop = asyncio.get_running_loop()
        if not self._clients:
            limits = httpx.Limits(
                max_connections=None, max_keepalive_connections=KEEPALIVE_PER_POOL
            )
            self._clients = [
                httpx.AsyncClient(timeout=self._timeout_s, limits=limits) for _ in range(POOLS)
            ]
        return self._clients[next(self._turn) % len(self._clients)]

    def close(self) -> None:
        """Close the connection pools (on the loop that used them, if it still runs)."""
        clients, loop = self._clients, self._loop
        if not clients:
            return

        async def close_all() -> None:
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.aclose()

        if loop is not None and loop.is_running():
            with contextlib.suppress(Exception):  # stopping: a pool left open dies with us
                asyncio.run_coroutine_threadsafe(close_all(), loop).result(5)
        elif loop is None:
            with contextlib.suppress(Exception):
                asyncio.run(close_all())


def json_of(answer: httpx.Response) -> Any:
    """The JSON of a carrier's ``answer``, or None when its body is not JSON."""
    try:
        return answer.json()
    except ValueError:
        return None
