"""Connecting to the very address that was checked (issue 16, DNS rebinding).

A destination is resolved once and every address classified
(:func:`domain.webhooks.addresses.host_problem`); the connection then goes to the first
of those addresses, not to whatever the name resolves to a moment later: webhook
deliveries and the pre-dial hook pass it to ``worker/http1.py`` as ``connect_to``. The
request keeps its URL (so the ``Host`` header, TLS's SNI and the certificate check use
the name); kept connections are keyed by the name and the address together, so one
opened to an address is never reused for another.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from domain.webhooks.addresses import host_problem

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
