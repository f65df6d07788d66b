"""The test provider of tests/support/provider.py, with faults it can inject per row, and a
server for it that can go away (connection refused) and come back on the same port."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from domain.signing import SIGNATURE_HEADER, sign
from tests.support.provider import Provider

#: Faults a row may get (the row's index modulo the plan's length picks one).
#: - ``5xx``: the first request answers 503 and places no call; the retry places it.
#: - ``slow``: the first request places the call but answers after ``slow_s`` (beyond
#:   the dialer's timeout); the retry, same Idempotency-Key, is answered at once.
#: - ``drop``: the first request places the call, then the socket is closed without
#:   an answer (the answer is lost); the retry is answered at once.
#: - ``silent``: the call is placed but its end is never reported.
#: - ``twice``: the end is reported twice.
#: - ``early``: the end is reported from inside the request handler, before the answer.
#: - ``ok``: no fault (the call is under way; its end is reported after the call).
#: - ``sync``: no fault, the other mode of SPEC §6: the request is answered when the call
#:   ends, with its final status (the call lives in the worker's thread meanwhile).
FAULTS = ("5xx", "slow", "drop", "silent", "twice", "early", "ok", "sync")


class FaultyProvider(Provider):
    """A provider that injects :data:`FAULTS` by row index, and counts what it did."""

    def __init__(
        self, secret: str, call_seconds: float, plan: tuple[str, ...], slow_s: float
    ) -> None:
        super().__init__(secret, call_seconds)
        self.plan = plan
        self.slow_s = slow_s
        self.attempts: Counter[str] = Counter()  # dial id -> requests seen
        self.injected: Counter[str] = Counter()  # fault -> times injected
        self.callback_answers: dict[str, list[dict[str, Any]]] = {}
        # One client for every callback (a new client per call costs an SSL context).
        self.client = httpx.Client(timeout=10)

    def fault_of(self, body: dict[str, Any]) -> str:
        index = int(str(body["rowId"]).rsplit(".", 1)[1])
        return self.plan[index % len(self.plan)]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        body = json.loads(handler.rfile.read(length))
        key = handler.headers.get("Idempotency-Key") or ""
        fault = self.fault_of(body)
        with self.lock:
            self.attempts[key] += 1
            first = self.attempts[key] == 1
        if first and fault == "5xx":
            with self.lock:
                self.requests.append(body)  # seen, but no call placed
                self.injected[fault] += 1
            _answer(handler, 503, b'{"error": "try again"}')
            return
        if fault == "sync":
            self.call_in_request(handler, body, key)
            return
        self.accept(body, key)
        if first and fault == "slow":
            with self.lock:
                self.injected[fault] += 1
            time.sleep(self.slow_s)  # the fault itself: an answer slower than the timeout
        elif first and fault == "drop":
            with self.lock:
                self.injected[fault] += 1
            handler.close_connection = True
            handler.connection.close()
            return
        elif first and fault == "early":
            with self.lock:
                self.injected[fault] += 1
            self.report(body, "completed")
        _answer(handler, 200, b"{}")

    def _count_in(self, body: dict[str, Any], key: str | None) -> bool:
        """Record a request; True when it places a new call (not a retry of one)."""
        with self.lock:
            self.requests.append(body)
            self.idempotency_keys[key or ""] += 1
            if self.idempotency_keys[key or ""] > 1:
                return False
            self.live += 1
            self.peak = max(self.peak, self.live)
            number = body["fromNumber"]
            self.live_by_number[number] += 1
            self.peak_by_number[number] = max(
                self.peak_by_number[number], self.live_by_number[number]
            )
            return True

    def call_in_request(
        self, handler: BaseHTTPRequestHandler, body: dict[str, Any], key: str
    ) -> None:
        """The ``sync`` mode: the call lasts while the request is open."""
        placed = self._count_in(body, key)
        time.sleep(self.call_seconds)  # the call itself, inside the open request
        if placed:
            with self.lock:
                self.live -= 1
                self.live_by_number[body["fromNumber"]] -= 1
        _answer(handler, 200, json.dumps({"status": self.status}).encode())

    def accept(self, body: dict[str, Any], key: str | None) -> None:
        if not self._count_in(body, key):
            return
        fault = self.fault_of(body)
        if fault == "early":
            # Reported before the answer (from the handler); the call is over at once.
            with self.lock:
                self.live -= 1
                self.live_by_number[body["fromNumber"]] -= 1
            return
        threading.Thread(target=self._end_later, args=(body, fault), daemon=True).start()

    def _end_later(self, body: dict[str, Any], fault: str = "ok") -> None:
        time.sleep(self.call_seconds)  # the call itself: it lasts this long
        with self.lock:
            self.live -= 1
            self.live_by_number[body["fromNumber"]] -= 1
        if fault == "silent":
            with self.lock:
                self.injected[fault] += 1
            return
        self.report(body, self.status)
        if fault == "twice":
            with self.lock:
                self.injected[fault] += 1
            self.report(body, "busy")  # a second, different end: must change nothing

    def report(self, body: dict[str, Any], status: str) -> None:
        payload = json.dumps({"status": status, "durationSeconds": self.call_seconds}).encode()
        try:
            answer = self.client.post(
                f"{self.api_base}/api/dials/{body['dialId']}/status",
                content=payload,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(self.secret, body["dialId"], payload),
                },
                timeout=10,
            )
        except httpx.HTTPError as exc:
            self.callback_errors.append(repr(exc))
            return
        if answer.status_code != 200:
            self.callback_errors.append(f"{answer.status_code} {answer.text[:200]}")
            return
        with self.lock:
            self.callback_answers.setdefault(body["dialId"], []).append(answer.json())


def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    try:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass  # the dialer gave up on this request (timeout) or its worker was killed


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed worker or a timed-out request leaves a broken pipe: expected here


class ProviderServer:
    """Serves a provider on a fixed loopback port; :meth:`away` closes the port for a
    while (connection refused), :meth:`back` listens again on the same port."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._server: _QuietServer | None = None
        self.port = 0
        self.listen()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self.provider

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if isinstance(provider, FaultyProvider):
                    provider.handle(self)
                    return
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                provider.accept(body, self.headers.get("Idempotency-Key"))
                _answer(self, 200, b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dial"

    def listen(self) -> None:
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def away(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def back(self) -> None:
        self.listen()


@contextmanager
def serve(provider: Provider) -> Iterator[ProviderServer]:
    """Serve ``provider``; stopped however the test ends."""
    server = ProviderServer(provider)
    try:
        yield server
    finally:
        server.away()
        if isinstance(provider, FaultyProvider):
            provider.client.close()
