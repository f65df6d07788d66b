"""The provider's status callback (``POST /api/dials/{dial_id}/status``) answered ahead
of FastAPI's stack when all is well, so that a call's end refills its slot sooner.

A py-spy of the API taking 200 callbacks a second (bench 7, cap 200, 2026-12-01) had
about half of its CPU samples in routing, dependency solving and the seven middleware
layers around ``dial_status``, and a quarter in the route itself. Here a callback whose
body has a ``Content-Length`` within the limit is read, checked and applied by the
route's own :func:`~producer.http.routes.callbacks.apply_report`, and answered with the
same JSON and security headers, counted in the same metrics under the route's
template. Anything else (no or too large a length, a bad signature or body, an unknown
dial, an error on the way, a body that takes too long) goes to the whole app with the
body replayed, so every error answer is the route's own; applying a report twice is
harmless (ending a dial is idempotent).
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import BatchDialError
from domain.signing import SIGNATURE_HEADER
from producer.http.middleware.metrics import CALLBACK_FAST_PATH, HTTP_REQUESTS, HTTP_SECONDS
from producer.http.middleware.security_headers import SECURITY_HEADERS
from producer.http.routes.callbacks import apply_report

log = structlog.get_logger(__name__)

PATH = re.compile(r"^/api/dials/([^/]+)/status$")
TEMPLATE = "/api/dials/{dial_id}/status"
_SIGNATURE = SIGNATURE_HEADER.lower().encode()
_HEADERS = [
    (b"content-type", b"application/json"),
    *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
]


class StatusFastPath:
    """ASGI middleware, the outermost of ours (Starlette has set ``scope["app"]``): see
    the module's text."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or int(length) > self.max_bytes:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        read: list[Message] = []
        try:
            async with asyncio.timeout(self.read_timeout_s):
                body = await _body(receive, read)
            signature = headers.get(_SIGNATURE)
            answer = await apply_report(
                scope["app"].state,
                match.group(1),
                body,
                signature.decode("latin-1") if signature else None,
            )
        except (BatchDialError, TimeoutError, UnicodeDecodeError):
            await self.app(scope, _replay(read, receive), send)
            return
        except Exception:  # the whole app answers it as it answers any other failure
            log.exception("status_fast_path_error")
            await self.app(scope, _replay(read, receive), send)
            return
        data = json.dumps(answer, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})
        CALLBACK_FAST_PATH.inc()
        HTTP_REQUESTS.labels("POST", TEMPLATE, "200").inc()
        HTTP_SECONDS.labels("POST", TEMPLATE).observe(time.perf_counter() - started)


async def _body(receive: Receive, read: list[Message]) -> bytes:
    """The whole body, each message kept in ``read`` (to replay it)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            raise TimeoutError  # a disconnect: the whole app sees it as well
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(read: list[Message], receive: Receive) -> Receive:
    """A receive that gives back what was read, then what is still to come."""
    pending = list(read)

    async def again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return again
