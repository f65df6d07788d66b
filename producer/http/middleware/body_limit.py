"""Answers 413 to a request body over the limit, without reading it all."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import TooLarge
from producer.http.errors import error_response


class BodyLimit:
    """ASGI middleware: a declared or streamed body over ``max_bytes`` is :class:`TooLarge`.

    A ``Content-Length`` over the limit is answered at once; a body that grows past it
    while a route reads it raises :class:`TooLarge` there (the error handlers answer
    it), or here if it surfaces outside them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> TooLarge:
        return TooLarge(f"the request body is over the limit of {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._answer(self._error(), scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._error()
            return message

        try:
            await self.app(scope, limited, send)
        except TooLarge as exc:
            await self._answer(exc, scope, receive, send)

    async def _answer(self, exc: TooLarge, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, "too_large", str(exc))(scope, receive, send)
