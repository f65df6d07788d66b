"""What every stand-in carrier of the tests shares: a threaded HTTP/1.1 server on a
free loopback port (connections kept alive, as carriers keep them), JSON answers, and
the measurements of the calls a stand-in made (:class:`CallLog`)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, TypeVar

import httpx

#: A stand-in's request handler: the request, and its method (``"GET"``, ``"POST"``).
Handle = Callable[[BaseHTTPRequestHandler, str], None]


def answer_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    """Answer ``status`` with ``body`` as JSON (nothing if the client went away)."""
    data = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass  # the client went away (killed, or stopped waiting)


@contextmanager
def serve_http(handle: Handle, *, backlog: int = 128) -> Iterator[str]:
    """Serve ``handle`` (GET and POST) on a free loopback port until the block ends;
    yields ``http://127.0.0.1:<port>``. ``backlog``: connections waiting to be taken."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            handle(self, "POST")

        def do_GET(self) -> None:
            handle(self, "GET")

        def log_message(self, *_args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = backlog

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class StandInCall(Protocol):
    """A call a carrier stand-in made: the number it went to, and the event that lets a
    held call go on."""

    @property
    def to(self) -> str: ...

    @property
    def release(self) -> threading.Event: ...


C = TypeVar("C", bound=StandInCall)


class CallLog(Generic[C]):
    """The measurements of a carrier stand-in's ``calls`` (guarded by its ``lock``)."""

    lock: threading.Lock
    calls: list[C]

    def calls_to(self, to: str) -> list[C]:
        """The calls made to ``to``, in order."""
        with self.lock:
            return [c for c in self.calls if c.to == to]

    def calls_per_number(self) -> dict[str, int]:
        """How many calls went to each number."""
        with self.lock:
            return dict(Counter(c.to for c in self.calls))


class Serves(Protocol):
    """A carrier stand-in :func:`serve_stand_in` serves."""

    closing: threading.Event
    http: httpx.Client

    @property
    def calls(self) -> Sequence[StandInCall]: ...

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None: ...


@contextmanager
def serve_stand_in(stand_in: Serves) -> Iterator[str]:
    """Serve ``stand_in`` on a free loopback port; yields its API base. At the end it is
    ``closing``, its held calls are let go and its callbacks' client is closed."""
    with serve_http(stand_in.handle) as base:
        try:
            yield base
        finally:
            stand_in.closing.set()
            for call in stand_in.calls:
                call.release.set()
            stand_in.http.close()
