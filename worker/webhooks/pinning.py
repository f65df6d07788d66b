"""Connecting to the very address that was checked (issue 16, DNS rebinding).

A destination is resolved once and every address classified
(:func:`domain.webhooks.addresses.host_problem`); the connection then goes to the first
of those addresses, not to whatever the name resolves to a moment later. The request
keeps its URL (so the ``Host`` header, TLS's SNI and the certificate check use the
name, and pooled connections stay keyed by the name): the pin travels in a context
variable, set by the task that sends the request, which httpcore's connection opening
reads in that same task (:class:`PinnedBackend`). A connection already open to the
name was opened to a checked address, so reusing it is safe.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from domain.webhooks.addresses import host_problem

#: (host name, the address checked for it) while a pinned request is being sent.
PIN: ContextVar[tuple[str, str] | None] = ContextVar("batchdial_webhook_pin", default=None)

#: Resolves a host to its addresses (on the loop).
AsyncResolver = Callable[[str], Awaitable[list[str]]]


async def loop_resolver(host: str) -> list[str]:
    """The host's addresses, from the loop's resolver (a thread: the loop never blocks)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_address(url: str, resolve: AsyncResolver = loop_resolver) -> tuple[str, str]:
    """Resolve ``url``'s host once: ``("", address)`` to connect to when every address is
    public, else ``(why it is refused, "")``."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = await resolve(host)
    except (OSError, UnicodeError) as exc:
        return f"its host {host!r} does not resolve ({exc})", ""
    problem = host_problem(host, lambda _host: addresses)
    if problem is not None:
        return problem, ""
    return "", addresses[0].split("%")[0]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting a pinned name to its checked address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = PIN.get()
        if pin is not None and pin[0].lower() == host.lower():
            host = pin[1]
        return await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport with :class:`PinnedBackend` under its connection pool (the pool
    hands its backend to every connection it opens; tests/unit check it does)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx offers no network_backend argument: its pool's is wrapped.
    pool = transport._pool
    pool._network_backend = PinnedBackend(pool._network_backend)
    return transport
