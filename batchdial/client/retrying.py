"""Sending one request with bounded retries: what is retried, and how long to wait."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from batchdial.client.errors import ApiError

#: Statuses that say "try again later" without the request having been applied.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: Methods that may be sent again: repeating them changes nothing more.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Retries:
    """How idempotent requests are retried: at most ``attempts`` sends in all, waiting
    ``backoff_s * 2**n`` (with jitter, at most ``max_backoff_s``) between them, or what a
    ``Retry-After`` header asks when it is no longer than ``max_backoff_s``."""

    attempts: int = 4
    backoff_s: float = 0.25
    max_backoff_s: float = 5.0

    def delay_s(self, attempt: int, response: httpx.Response | None) -> float:
        """How long to wait before send number ``attempt + 1`` (``attempt`` from 1)."""
        if response is not None:
            after = _retry_after_s(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_backoff_s)
        base: float = min(self.backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)
        return base * (0.5 + random.random() / 2)  # noqa: S311 -- jitter, not a secret


NO_RETRIES = Retries(attempts=1)


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to the backoff


def may_retry(request: httpx.Request) -> bool:
    """Whether ``request`` is safe to send again: an idempotent method, or a POST that
    carries an ``Idempotency-Key`` (the API answers a repeat with the first answer)."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


def send(
    client: httpx.Client,
    request: httpx.Request,
    retries: Retries,
    *,
    retry: bool,
    stream: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Send ``request``; retried (when ``retry``) on no answer or a retry status; raises
    :class:`ApiError` for any status >= 400 or when no answer came."""
    attempts = retries.attempts if retry else 1
    for attempt in range(1, attempts + 1):
        try:
            response = client.send(request, stream=stream)
        except httpx.TransportError as exc:
            if attempt >= attempts:
                raise ApiError.unreachable(request, exc) from exc
            sleep(retries.delay_s(attempt, None))
            continue
        if response.status_code in RETRY_STATUSES and attempt < attempts:
            response.close()
            sleep(retries.delay_s(attempt, response))
            continue
        if response.status_code >= 400:
            if stream:
                response.read()
            raise ApiError.from_response(response)
        return response
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def send_async(
    client: httpx.AsyncClient,
    request: httpx.Request,
    retries: Retries,
    *,
    retry: bool,
    stream: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """:func:`send` for an asyncio client."""
    attempts = retries.attempts if retry else 1
    for attempt in range(1, attempts + 1):
        try:
            response = await client.send(request, stream=stream)
        except httpx.TransportError as exc:
            if attempt >= attempts:
                raise ApiError.unreachable(request, exc) from exc
            await sleep(retries.delay_s(attempt, None))
            continue
        if response.status_code in RETRY_STATUSES and attempt < attempts:
            await response.aclose()
            await sleep(retries.delay_s(attempt, response))
            continue
        if response.status_code >= 400:
            if stream:
                await response.aread()
            raise ApiError.from_response(response)
        return response
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
