"""One ``httpx.AsyncClient`` per dialer, made on the event loop that uses it and closed
there: what every dialer that talks HTTP on the engine's loop shares."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

#: Connections kept open for reuse (there is no limit on how many are open at once: the
#: caps bound the calls, and each call in progress may hold one).
KEEPALIVE_CONNECTIONS = 256


class LoopClient:
    """A lazily made ``AsyncClient`` (one belongs to one loop) and its clean close."""

    def __init__(self, timeout_s: float, client: httpx.AsyncClient | None = None) -> None:
        self._timeout_s = timeout_s
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        """The client, made on first use (call it on the loop that will use it)."""
        self._loop = asyncio.get_running_loop()
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout_s,
                limits=httpx.Limits(
                    max_connections=None, max_keepalive_connections=KEEPALIVE_CONNECTIONS
                ),
            )
        return self._client

    def close(self) -> None:
        """Close the connection pool (on the loop that used it, if it still runs)."""
        client, loop = self._client, self._loop
        if client is None:
            return
        if loop is not None and loop.is_running():
            with contextlib.suppress(Exception):  # stopping: a pool left open dies with us
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(5)
        elif loop is None:
            with contextlib.suppress(Exception):
                asyncio.run(client.aclose())
