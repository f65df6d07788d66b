"""Counts and times every request by route template (not by id), for Prometheus."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "batchdial_http_requests_total",
    "HTTP requests answered by the API, by method, route template and status.",
    ["method", "route", "status"],
)
#: Status callbacks answered by ``producer/http/fastpath.py`` (ahead of the framework).
CALLBACK_FAST_PATH = Counter(
    "batchdial_callback_fast_path_total",
    "Provider status callbacks answered ahead of the framework's stack (well formed, "
    "signed, for a known dial); the others go through the route.",
)
#: The status label of a request whose client went away before its answer (nginx's).
CLIENT_CLOSED = 499
HTTP_SECONDS = Histogram(
    "batchdial_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)


class Measure:
    """ASGI middleware: counts and times requests by route template (not by id).

    A request whose client disconnected before its answer counts as
    :data:`CLIENT_CLOSED`, one that raised before answering as 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except ClientDisconnect:
            status = CLIENT_CLOSED
            raise
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)
