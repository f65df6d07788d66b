"""A customer's webhook receiver on loopback: verifies every delivery's signature with
an independent implementation of Standard Webhooks (hmac + base64 here, not
batchdial's code) and with the ``standardwebhooks`` package's verifier, counts
deliveries per ``webhook-id`` and per event, and misbehaves on demand.

``mode`` (settable while it runs): ``ok`` (204), ``error`` (503), ``slow`` (answers
after ``slow_s``), ``hang`` (answers after ``hang_s``, beyond the sender's timeout),
``down`` (closes the connection without an answer). ``stop()``/``start()`` take the
port away (connection refused) and back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The spec's signature, computed without batchdial's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass
class Receipt:
    """One request as received."""

    webhook_id: str
    body: dict[str, Any]
    answered: int | None
    at: float


@dataclass
class Receiver:
    """What the server saw; ``secret`` is the endpoint's (set once it is created)."""

    secret: str = ""
    mode: str = "ok"
    slow_s: float = 0.5
    hang_s: float = 3.0
    receipts: list[Receipt] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], raw: bytes) -> int | None:
        """Check one request; the status to answer (None: drop the connection)."""
        msg_id = headers.get("webhook-id", "")
        ts = headers.get("webhook-timestamp", "")
        sent = headers.get("webhook-signature", "").split(" ")
        mode = self.mode
        ok = independent_signature(self.secret, msg_id, ts, raw) in sent
        try:
            Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            ok = False
        status = {"ok": 204, "slow": 204, "hang": 204, "error": 503}.get(mode)
        with self.lock:
            if not ok:
                self.bad_signatures.append(msg_id)
            self.receipts.append(Receipt(msg_id, json.loads(raw), status, time.time()))
        if mode == "slow":
            time.sleep(self.slow_s)
        elif mode == "hang":
            time.sleep(self.hang_s)
        return status

    def delivered(self) -> list[Receipt]:
        """Receipts answered 2xx."""
        with self.lock:
            return [r for r in self.receipts if r.answered is not None and r.answered < 300]

    def count_by_id(self) -> Counter[str]:
        """Requests per webhook-id (retries of one delivery share it)."""
        with self.lock:
            return Counter(r.webhook_id for r in self.receipts)


class ReceiverServer:
    """The HTTP server of a :class:`Receiver` on a fixed loopback port."""

    def __init__(self, receiver: Receiver, host: str = "127.0.0.1") -> None:
        self.receiver = receiver
        self.host = host
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0
        self.start()

    def start(self) -> None:
        """Listen (again, on the same port)."""
        receiver = self.receiver
        open_connections = self._connections

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                open_connections.add(self.connection)

            def finish(self) -> None:
                open_connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, raw)
                if status is None:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        family_host = self.host
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer((family_host, self.port), Handler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        """Go down: stop listening (connections are refused until :meth:`start`) and
        close the connections kept open, as a server that goes away does."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def url(self) -> str:
        """Where to send deliveries."""
        return f"http://{self.host}:{self.port}/hooks"


@contextmanager
def receiver_server(receiver: Receiver) -> Iterator[ReceiverServer]:
    """A running :class:`ReceiverServer`, stopped on exit."""
    server = ReceiverServer(receiver)
    try:
        yield server
    finally:
        server.stop()
