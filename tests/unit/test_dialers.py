"""Dialer backends on loopback only: the http dialer against a server on 127.0.0.1 whose
answers each test writes (as httpx objects, for brevity), the simulated dialer's
outcomes and timing, and the signature helpers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from domain.provider_details import MAX_DETAILS_BYTES
from domain.signing import SIGNATURE_HEADER, sign, verify
from tests.support.loopback import serve_http
from worker.dialers.base import DialRequest, Placed
from worker.dialers.http import WORKER_HEADER, HttpDialer
from worker.dialers.simulated import SimulatedDialer
from worker.http1 import Http1Client

REQUEST = DialRequest(
    "dial_j_0_1_x", "job_j", "job_j.0", "+12125550123", "+12125550100", "agent", {"name": "Ann"}, 1
)


class Dialer:
    """An http dialer against ``handler`` on a loopback server, placing on an event loop
    of the test's own (what the engine does on the process's loop); pauses are
    recorded, not slept. A handler that raises ``httpx.ConnectError`` makes the server
    drop the connection unanswered; every answer closes its connection, so that each
    attempt is one request (keeping connections is tests/unit/test_http1.py's)."""

    def __init__(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        sleeps: list[float] | None = None,
    ) -> None:
        self.sleeps = sleeps if sleeps is not None else []
        self.handler = handler

    def place(self, request: DialRequest, on_end: Callable[[str, str], None]) -> Placed:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        with serve_http(self._serve) as base:
            inner = HttpDialer(
                f"{base}/dial",
                secret="k",
                backoff_s=(0.1, 0.2, 0.4),
                sleep=sleep,
                client=Http1Client(5.0),
                worker_id="host:1",
            )
            answer = inner.place(request, on_end)
            assert not isinstance(answer, Placed), "the http dialer places on the loop"
            return asyncio.run(answer)

    def _serve(self, server: BaseHTTPRequestHandler, method: str) -> None:
        length = int(server.headers.get("content-length", "0"))
        seen = httpx.Request(
            method,
            f"http://provider.test{server.path}",
            headers=dict(server.headers.items()),
            content=server.rfile.read(length),
        )
        server.close_connection = True
        try:
            answer = self.handler(seen)
        except httpx.ConnectError:
            return  # the connection closes unanswered
        server.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection"):
                server.send_header(name, value)
        server.send_header("content-length", str(len(answer.content)))
        server.send_header("connection", "close")
        server.end_headers()
        server.wfile.write(answer.content)


def dialer_for(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float] | None = None
) -> Dialer:
    return Dialer(handler, sleeps)


def never(_status: str, _reason: str) -> None:
    raise AssertionError("an http dial never ends through on_end")


def test_terminal_status_in_the_answer_ends_the_dial() -> None:
    """A 2xx answer with a final status ends the dial with it; the body is SPEC §6's."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "busy"})

    placed = dialer_for(handler).place(REQUEST, never)
    assert placed.status == "busy"
    body = json.loads(seen[0].content)
    assert body == {
        "dialId": "dial_j_0_1_x",
        "jobId": "job_j",
        "rowId": "job_j.0",
        "toNumber": "+12125550123",
        "fromNumber": "+12125550100",
        "callAgentId": "agent",
        "inputs": {"name": "Ann"},
        "attempt": 1,
    }
    assert seen[0].headers["Idempotency-Key"] == "dial_j_0_1_x"
    assert seen[0].headers[WORKER_HEADER] == "host:1"
    assert verify("k", "dial_j_0_1_x", seen[0].content, seen[0].headers[SIGNATURE_HEADER]) is None


def test_details_of_the_answer_are_bounded_and_the_drop_recorded() -> None:
    """An answer with a final status brings allowlisted details along; a 1 MiB field of
    any other name is dropped and named (domain/provider_details.py)."""
    answer = {"status": "busy", "sipCode": "486", "x": "a" * 1024 * 1024}
    placed = dialer_for(lambda _r: httpx.Response(200, json=answer)).place(REQUEST, never)
    assert placed.status == "busy"
    assert placed.details == {
        "answer": "busy",
        "sipCode": "486",
        "droppedFields": ["x"],
        "droppedFieldCount": 1,
    }
    assert len(json.dumps(placed.details)) <= MAX_DETAILS_BYTES


@pytest.mark.parametrize("answer", [{}, {"status": "ringing"}, None])
def test_answer_without_a_final_status_hands_the_call_to_the_provider(answer: object) -> None:
    """A 2xx answer without a final status means the provider reports the end later."""
    placed = dialer_for(lambda _r: httpx.Response(202, json=answer)).place(REQUEST, never)
    assert placed.status is None
    assert placed.handoff


def test_5xx_and_connection_errors_are_retried_under_the_same_key() -> None:
    """Transient failures are retried with backoff, always with the same Idempotency-Key."""
    keys: list[str] = []
    answers: Iterator[int | str] = iter([503, "refused", 500, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        answer = next(answers)
        if answer == "refused":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(answer), json={"status": "completed"} if answer == 200 else {})

    sleeps: list[float] = []
    placed = dialer_for(handler, sleeps).place(REQUEST, never)
    assert placed.status == "completed"
    assert keys == ["dial_j_0_1_x"] * 4
    assert sleeps == [0.1, 0.2, 0.4]


def test_a_4xx_fails_the_dial_and_is_not_retried() -> None:
    """A 4xx answer fails the dial at once."""
    calls: list[int] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(422, json={"error": "bad number"})

    placed = dialer_for(handler).place(REQUEST, never)
    assert placed.status == "failed"
    assert "422" in placed.reason
    assert calls == [1]


def test_retries_run_out_into_a_failed_dial() -> None:
    """A provider that never answers well fails the dial after the last retry."""
    placed = dialer_for(lambda _r: httpx.Response(500)).place(REQUEST, never)
    assert placed.status == "failed"
    assert "4 attempts" in placed.reason


def test_simulated_calls_end_after_their_time_with_the_weighted_outcomes() -> None:
    """Zero-length calls end at once; others end on a timer of the event loop."""
    instant = SimulatedDialer(0, {"busy": 1})
    assert instant.place(REQUEST, never).status == "busy"
    timed = SimulatedDialer(0.2, {"completed": 1, "failed": 0})
    ended: list[tuple[str, float]] = []
    done = threading.Event()
    started = time.monotonic()

    def on_end(status: str, _reason: str) -> None:
        ended.append((status, time.monotonic() - started))
        done.set()

    assert timed.place(REQUEST, on_end).status is None
    assert timed.pending() == 1
    assert done.wait(5)
    assert ended[0][0] == "completed"
    assert ended[0][1] >= 0.2
    timed.close()
    mix = SimulatedDialer(0, {"completed": 3, "no-answer": 1}, seed=7)
    drawn = [mix.outcome() for _ in range(4000)]
    assert 0.7 < drawn.count("completed") / 4000 < 0.8


def test_signatures_verify_and_expire() -> None:
    """A signature verifies for its dial and body within the tolerance, not otherwise."""
    header = sign("k", "d1", b"body", at=1_000_000)
    assert verify("k", "d1", b"body", header, now=1_000_100) is None
    mismatch = "the signature does not match the body"
    assert verify("k", "d1", b"other", header, now=1_000_100) == mismatch
    assert verify("k", "d2", b"body", header, now=1_000_100) == mismatch  # another dial
    assert verify("k", "d1", b"body", header, now=1_000_400) is not None
    assert verify("x", "d1", b"body", header, now=1_000_100) is not None
    for bad in ("t=" + "9" * 310 + ",v1=00", "t=\xb2\xb3,v1=00", "t=1", "", "v1=ab"):
        assert verify("k", "d1", b"body", bad, now=1_000_100) is not None
