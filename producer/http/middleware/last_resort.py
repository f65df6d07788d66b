"""The last layer of ours around the app: an unexpected exception ends the request, not
the connection, and a client that went away is not an error.

Starlette's outermost ``ServerErrorMiddleware`` answers an unexpected exception and
then re-raises it, so the server logs "Exception in ASGI application" and closes the
keep-alive connection: a client's next request on it fails without being processed.
This middleware sits inside it and never lets an exception through.
"""

from __future__ import annotations

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer.http.errors import internal_error_response

log = structlog.get_logger(__name__)


class LastResort:
    """ASGI middleware: answers 500 ``internal`` to an unexpected exception (logged with
    its traceback, once) and logs a client disconnect at info, without a traceback.

    A response already under way cannot be turned into a 500: it is left unfinished,
    and the server closes that one connection (a truncated answer must not look whole).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            log.info(
                "client_disconnected",
                method=scope.get("method"),
                path=scope.get("path"),
                answered=started,
            )
        except Exception as exc:
            log.exception(
                "unexpected_error",
                method=scope.get("method"),
                path=scope.get("path"),
                error=type(exc).__name__,
                answered=started,
            )
            if not started:
                await internal_error_response()(scope, receive, send)
