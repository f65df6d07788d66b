"""Answers 413 to a request body over the limit, without reading it all, and 408 to a
body that takes too long to arrive."""

from __future__ import annotations

import re
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import TooLarge
from producer.http.errors import BodyTimeout, body_timeout_response, error_response

#: Default of ``read_timeout_s`` (BATCHDIAL_BODY_READ_TIMEOUT_SECONDS says the same).
BODY_READ_TIMEOUT_SECONDS = 30.0
#: Routes that read their body as a stream (row uploads, issue 17): no byte limit here
#: (the route bounds rows per job and bytes per line, and a JSON body by the limit), and
#: the read timeout is between two chunks instead of for the whole body, so that a
#: million-row upload can take the minutes it needs while a stalled one still ends.
STREAMED_PATHS = re.compile(r"^/api/batch_dial_jobs/[^/]+/rows$")
#: A create with its file (multipart/form-data) is streamed the same way.
STREAMED_CREATE = "/api/batch_dial_jobs"


def _streamed(scope: Scope) -> bool:
    if STREAMED_PATHS.match(scope["path"]):
        return True
    if scope["path"] != STREAMED_CREATE:
        return False
    content_type: bytes = dict(scope.get("headers", [])).get(b"content-type", b"")
    return bool(content_type.split(b";")[0].strip().lower() == b"multipart/form-data")


class BodyLimit:
    """ASGI middleware: a declared or streamed body over ``max_bytes`` is :class:`TooLarge`;
    a body not received whole within ``read_timeout_s`` of the route's first read is
    :class:`BodyTimeout`.

    A ``Content-Length`` over the limit is answered at once; a body that grows past it
    while a route reads it raises :class:`TooLarge` there (the error handlers answer
    it), or here if it surfaces outside them. The read timeout bounds the whole body,
    not each chunk, so a client trickling a byte a second holds a request for at most
    ``read_timeout_s``; the 408 then closes its connection.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        read_timeout_s: float = BODY_READ_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    def _error(self) -> TooLarge:
        return TooLarge(f"the request body is over the limit of {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        streamed = scope.get("method") == "POST" and _streamed(scope)
        for name, value in scope.get("headers", []):
            if streamed:
                break
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await error_response(413, "too_large", str(self._error()))(scope, receive, send)
                return
        seen = 0
        deadline: float | None = None
        whole = False

        async def limited() -> Message:
            nonlocal seen, deadline, whole
            if whole:
                # The body is in; what follows is the wait for a disconnect (streams).
                return await receive()
            now = time.monotonic()
            if deadline is None or streamed:
                deadline = now + self.read_timeout_s
            try:
                with anyio.fail_after(max(deadline - now, 0)):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.read_timeout_s) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not streamed:
                    raise self._error()
                whole = not message.get("more_body", False)
            return message

        try:
            await self.app(scope, limited, send)
        except TooLarge as exc:
            await error_response(413, "too_large", str(exc))(scope, receive, send)
        except BodyTimeout as exc:
            await body_timeout_response(exc)(scope, receive, send)
