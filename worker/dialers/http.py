"""The http dialer: POSTs each dial to a provider (SPEC §6).

A 2xx answer with a terminal ``status`` ends the dial at once; a 2xx answer without
one hands the call to the provider, which reports the end to
``POST /api/dials/{dialId}/status``. Connection errors, timeouts and 5xx answers are
retried with backoff under the same ``Idempotency-Key``; a 4xx answer fails the dial.

Placing is asynchronous (``worker/http1.py``, a small keep-alive HTTP/1.1 client on
asyncio streams: httpx cost a worker 0.7 ms of CPU per dial POST, two thirds of it at
200 calls a second): :meth:`HttpDialer.place` returns a coroutine that the engine runs
on the process's event loop, so a provider that takes its time to answer (or holds
the request for the whole call) holds no worker thread.
Each request names the process that placed it (``X-Batchdial-Worker``).

Of the answer's fields beside ``status``, only the bounded allowlist of
``domain/provider_details.py`` is kept as details of the dial's end.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

from domain.dials import TERMINAL_STATUSES
from domain.provider_details import bound_details
from domain.signing import SIGNATURE_HEADER, sign
from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.http1 import Answer, Http1Client, HttpError, Timeout
from worker.metrics import PROVIDER_ERRORS, PROVIDER_RETRIES

log = structlog.get_logger(__name__)

#: Seconds to wait before each retry of a failed attempt.
DEFAULT_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
#: The header that names the worker process placing a dial (host:pid).
WORKER_HEADER = "X-Batchdial-Worker"


class HttpDialer:
    """Places calls with a provider over HTTP."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout_s: float = 10.0,
        backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        client: Http1Client | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._backoff = backoff_s
        self._sleep = sleep
        self._http = client or Http1Client(timeout_s)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"

    def place(self, request: DialRequest, on_end: OnEnd) -> Coroutine[Any, Any, Placed]:
        """A coroutine that POSTs the dial, retries what may be transient and reads
        the answer (run it on the event loop)."""
        return self._post(request)

    async def _post(self, request: DialRequest) -> Placed:
        body = json.dumps(request.as_json(), separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "Idempotency-Key": request.dial_id,
            WORKER_HEADER: self.worker_id,
        }
        problem = ""
        for attempt, pause in enumerate((0.0, *self._backoff)):
            if pause:
                PROVIDER_RETRIES.inc()
                await self._sleep(pause)
            if self._secret:
                headers[SIGNATURE_HEADER] = sign(self._secret, request.dial_id, body)
            try:
                answer = await self._http.request("POST", self.url, body=body, headers=headers)
            except HttpError as exc:
                PROVIDER_ERRORS.labels("timeout" if isinstance(exc, Timeout) else "connect").inc()
                problem = f"provider unreachable: {type(exc).__name__}"
                log.warning(
                    "dial_request_failed",
                    dial_id=request.dial_id,
                    attempt=attempt + 1,
                    error=type(exc).__name__,
                )
                continue
            if answer.status >= 500:
                PROVIDER_ERRORS.labels("5xx").inc()
                problem = f"provider answered {answer.status}"
                log.warning(
                    "dial_request_failed",
                    dial_id=request.dial_id,
                    attempt=attempt + 1,
                    status=answer.status,
                )
                continue
            if answer.status >= 400:
                PROVIDER_ERRORS.labels("4xx").inc()
                return Placed(
                    status="failed", reason=f"provider refused the dial ({answer.status})"
                )
            return self._read(answer)
        return Placed(status="failed", reason=f"{problem} after {len(self._backoff) + 1} attempts")

    @staticmethod
    def _read(answer: Answer) -> Placed:
        """The answer's final status (with the bounded details beside it), or a handoff."""
        try:
            data = answer.json()
        except ValueError:
            data = None
        status = data.get("status") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(status, str) and status in TERMINAL_STATUSES:
            others = {str(k): v for k, v in data.items() if k != "status"}
            return Placed(status=status, details={"answer": status, **bound_details(others)})
        return Placed(handoff=True)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
