"""A small voice provider for tests: takes dial requests over HTTP, answers at once
(the call is under way), and reports each call's end to the API's status callback
after a delay, signed with the shared secret. It counts simultaneous calls."""

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

#: The dialer secret the suites' providers and APIs share.
SECRET = "test-secret-do-not-use"


class Provider:
    """State of the test provider; ``api_base`` is where callbacks go."""

    def __init__(self, secret: str, call_seconds: float, status: str = "completed") -> None:
        self.secret = secret
        self.call_seconds = call_seconds
        self.status = status
        self.api_base = ""
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.idempotency_keys: Counter[str] = Counter()
        self.live = 0
        self.peak = 0
        self.live_by_number: Counter[str] = Counter()
        self.peak_by_number: Counter[str] = Counter()
        self.callback_errors: list[str] = []

    def accept(self, body: dict[str, Any], key: str | None) -> None:
        with self.lock:
            self.requests.append(body)
            self.idempotency_keys[key or ""] += 1
            if self.idempotency_keys[key or ""] > 1:
                return  # a retry of a call already placed: nothing new
            self.live += 1
            self.peak = max(self.peak, self.live)
            number = body["fromNumber"]
            self.live_by_number[number] += 1
            self.peak_by_number[number] = max(
                self.peak_by_number[number], self.live_by_number[number]
            )
        threading.Thread(target=self._end_later, args=(body,), daemon=True).start()

    def _end_later(self, body: dict[str, Any]) -> None:
        time.sleep(self.call_seconds)  # the call itself: it lasts this long
        with self.lock:
            self.live -= 1
            self.live_by_number[body["fromNumber"]] -= 1
        payload = json.dumps({"status": self.status, "durationSeconds": self.call_seconds}).encode()
        try:
            answer = httpx.post(
                f"{self.api_base}/api/dials/{body['dialId']}/status",
                content=payload,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(self.secret, body["dialId"], payload),
                },
                timeout=10,
            )
            if answer.status_code != 200:
                self.callback_errors.append(f"{answer.status_code} {answer.text[:200]}")
        except httpx.HTTPError as exc:
            self.callback_errors.append(repr(exc))


@contextmanager
def provider_server(provider: Provider) -> Iterator[str]:
    """Serve ``provider`` on a free loopback port; yields the dial URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length))
            provider.accept(body, self.headers.get("Idempotency-Key"))
            answer = b"{}"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dial"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    """Run the provider by hand: ``python -m tests.support.provider --api URL --secret S``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="where callbacks go")
    parser.add_argument("--secret", required=True, help="BATCHDIAL_DIALER_SECRET of the API")
    parser.add_argument("--call-seconds", type=float, default=2.0)
    args = parser.parse_args()
    provider = Provider(args.secret, args.call_seconds)
    provider.api_base = args.api
    with provider_server(provider) as url:
        print(f"provider: BATCHDIAL_DIALER_URL={url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(5)  # a status line every 5 s while it runs by hand
                print(
                    f"provider: {len(provider.requests)} calls, {provider.live} live, "
                    f"peak {provider.peak}",
                    flush=True,
                )
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
