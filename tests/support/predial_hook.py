"""A customer's pre-dial hook on loopback (SPEC §8.2 ``preDialWebhook``): verifies every
request's Standard Webhooks signature independently (hmac + base64, not batchdial's
code) against the secret of the job it names, records each request, and answers by
the row's ``inputs["hook"]``:

- ``dial`` (or none): ``{"action": "dial"}``;
- ``skip``: ``{"action": "skip", "reason": "do not call"}``;
- ``defer``: ``{"action": "defer", "deferSeconds": defer_s}`` the first time it is
  asked about the row, ``dial`` after;
- ``slow``: answers ``dial`` after ``slow_s`` (beyond the hook's timeout);
- ``error``: 503; ``junk``: 200 with a body that is no answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.webhook_receiver import independent_signature


@dataclass
class Asked:
    """One request as received."""

    webhook_id: str
    body: dict[str, Any]
    at: float


@dataclass
class Hook:
    """What the hook saw; ``secrets`` maps a job id to its ``preDialSecret``."""

    defer_s: float = 2.0
    slow_s: float = 6.0
    secrets: dict[str, str] = field(default_factory=dict)
    asked: list[Asked] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        """Check one request; the status and body to answer."""
        body = json.loads(raw)
        data = body["data"]
        msg_id = headers.get("webhook-id", "")
        secret = self.secrets.get(data["jobId"], "")
        expected = independent_signature(secret, msg_id, headers.get("webhook-timestamp", ""), raw)
        with self.lock:
            if not secret or expected not in headers.get("webhook-signature", "").split(" "):
                self.bad_signatures.append(msg_id)
            seen = sum(1 for a in self.asked if a.body["data"]["rowId"] == data["rowId"])
            self.asked.append(Asked(msg_id, body, time.time()))
        mode = data["inputs"].get("hook", "dial")
        answer: dict[str, Any] = {"action": "dial"}
        if mode == "skip":
            answer = {"action": "skip", "reason": "do not call"}
        elif mode == "defer" and seen == 0:
            answer = {"action": "defer", "deferSeconds": self.defer_s}
        elif mode == "slow":
            time.sleep(self.slow_s)
        elif mode == "error":
            return 503, b""
        elif mode == "junk":
            return 200, b"<html>not an answer</html>"
        return 200, json.dumps(answer).encode()

    def asked_per_row(self) -> Counter[str]:
        """Requests per row id."""
        with self.lock:
            return Counter(a.body["data"]["rowId"] for a in self.asked)


@contextmanager
def hook_server(hook: Hook) -> Iterator[str]:
    """Serve ``hook`` on a free loopback port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            status, answer = hook.handle({k.lower(): v for k, v in self.headers.items()}, raw)
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:  # the caller gave up waiting (a slow answer): nobody listens
                self.close_connection = True

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predial"
    finally:
        server.shutdown()
        server.server_close()
