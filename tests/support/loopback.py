"""What every stand-in carrier of the tests shares: a threaded HTTP/1.1 server on a
free loopback port (connections kept alive, as carriers keep them) and JSON answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
