"""The pre-dial hook's answers (worker/engine/predial.py): what each answer means, what
falls back to ``onTimeout``, and the signed request body. Loopback only: the hook is a
server on 127.0.0.1, in the test's own loop, whose answers each test writes (as httpx
objects, for brevity)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from domain.keys import Keys
from tests.support.procs import free_port
from tests.support.webhook_receiver import independent_signature
from worker.dialers.base import DialRequest
from worker.engine.predial import (
    DEFAULT_DEFER_S,
    MAX_ANSWER_BYTES,
    MAX_DEFER_S,
    PreDial,
    PreDialHook,
    Verdict,
    hook_of,
    verdict_of,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK = PreDialHook("https://hooks.example/pre", 500, "skip", SECRET)


def _answer(body: object, status: int = 200) -> Verdict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return verdict_of(HOOK, status, raw)


def test_dial_skip_and_defer_are_the_hooks_decisions() -> None:
    assert _answer({"action": "dial"}) == Verdict("dial", "hook: dial", "hook")
    assert _answer({"action": "skip", "reason": "DNC list"}) == Verdict("skip", "DNC list", "hook")
    assert _answer({"action": "defer", "deferSeconds": 90}) == Verdict(
        "defer", "hook: defer", "hook", 90.0
    )
    assert _answer({"action": "defer"}).defer_s == DEFAULT_DEFER_S
    assert _answer({"action": "defer", "deferSeconds": 10**9}).defer_s == MAX_DEFER_S
    assert _answer({"action": "defer", "deferSeconds": 1.5}, status=201).defer_s == 1.5
    assert len(_answer({"action": "skip", "reason": "x" * 1000}).reason) == 200


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (503, {"action": "dial"}, "HTTP 503"),
        (302, b"", "HTTP 302"),
        (200, b"<html>", "not JSON"),
        (200, ["dial"], "not a JSON object"),
        (200, {"action": "call"}, "action 'call'"),
        (200, {}, "action None"),
        (200, {"action": "defer", "deferSeconds": "soon"}, "not a number"),
        (200, {"action": "defer", "deferSeconds": True}, "not a number"),
        (200, {"action": "defer", "deferSeconds": -5}, "negative"),
    ],
)
def test_anything_else_is_decided_by_on_timeout(status: int, body: object, why: str) -> None:
    verdict = _answer(body, status)
    assert (verdict.action, verdict.decided_by) == ("skip", "onTimeout")
    assert why in verdict.reason


def test_a_stored_config_names_its_hook_only_with_a_secret() -> None:
    config = {
        "preDialWebhook": {"url": "https://h.example/", "timeoutMs": 700, "onTimeout": "defer"}
    }
    assert hook_of(config, "whsec_x") == PreDialHook("https://h.example/", 700, "defer", "whsec_x")
    assert hook_of(config, None) is None
    assert hook_of({"preDialWebhook": None}, "whsec_x") is None


REQUEST = DialRequest(
    dial_id="job_1.0.1.ab",
    job_id="job_1",
    row_id="job_1.0",
    to_number="+12125550100",
    from_number="+12125550199",
    call_agent_id="agent",
    inputs={"name": "Ann"},
    attempt=1,
)


#: A hook's answer to a request, as a test writes it: raise ``httpx.ConnectError`` to
#: drop the connection unanswered, ``httpx.ReadTimeout`` to never answer.
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


async def _serve(handler: Handler, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines[1:] if line)
        body = await r.readexactly(int(fields.get("Content-Length", "0")))
        target = lines[0].split(" ")[1]
        request = httpx.Request("POST", f"http://{fields['Host']}{target}", headers=fields,
                                content=body)  # fmt: skip
        try:
            made = handler(request)
            answer = await made if inspect.isawaitable(made) else made
        except httpx.ConnectError:
            return
        except httpx.ReadTimeout:
            await r.read()  # never answers: waits for the client to go
            return
        w.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s"
                % (answer.status_code, len(answer.content), answer.content))  # fmt: skip
        await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        w.close()


def _ask(handler: Handler, hook: PreDialHook = HOOK, *, allow_private: bool = True) -> Verdict:
    """Ask the hook ``handler`` answers for (its URL replaced by the server's)."""

    async def run() -> Verdict:
        server = await asyncio.start_server(lambda r, w: _serve(handler, r, w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        predial = PreDial(redis.Redis(), Keys("unused"), allow_private=allow_private)
        at = hook if not allow_private else dataclasses.replace(
            hook, url=f"http://127.0.0.1:{port}/pre"
        )  # fmt: skip
        try:
            return await predial.ask(at, REQUEST)
        finally:
            predial.close()
            server.close()
            await asyncio.sleep(0.01)

    return asyncio.run(run())


def test_the_request_is_signed_and_carries_the_dial() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"action": "skip"})

    assert _ask(handle).action == "skip"
    (request,) = seen
    body = json.loads(request.content)
    assert body["type"] == "dial.pre"
    assert body["data"] == {
        "jobId": "job_1",
        "rowId": "job_1.0",
        "dialId": "job_1.0.1.ab",
        "toNumber": "+12125550100",
        "fromNumber": "+12125550199",
        "callAgentId": "agent",
        "inputs": {"name": "Ann"},
        "attempt": 1,
    }
    h = request.headers
    assert h["webhook-id"] == "pre_job_1.0.1.ab"
    expected = independent_signature(
        SECRET, h["webhook-id"], h["webhook-timestamp"], request.content
    )
    assert h["webhook-signature"] == expected


def test_a_slow_hook_is_cut_off_at_its_timeout() -> None:
    async def slow(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={"action": "dial"})

    hook = PreDialHook("https://hooks.example/pre", 100, "defer", SECRET)
    verdict = _ask(slow, hook)  # returns at 100 ms, not 30 s
    assert verdict == Verdict("defer", "no answer within 100 ms", "onTimeout")


def test_a_hook_that_never_answers_reads_as_no_answer() -> None:
    def late(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    verdict = _ask(late)
    assert verdict == Verdict("skip", "no answer within 500 ms", "onTimeout")


def test_a_refused_or_dropped_connection_is_decided_by_on_timeout() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("dropped", request=request)

    verdict = _ask(drop)
    assert (verdict.action, verdict.decided_by) == ("skip", "onTimeout")
    assert "ProtocolError" in verdict.reason
    nobody = dataclasses.replace(HOOK, url=f"http://127.0.0.1:{free_port()}/pre")

    async def refused() -> Verdict:
        return await PreDial(redis.Redis(), Keys("unused"), allow_private=True).ask(nobody, REQUEST)

    verdict = asyncio.run(refused())
    assert (verdict.action, verdict.decided_by) == ("skip", "onTimeout")
    assert "ConnectFailed" in verdict.reason


def test_an_answer_over_the_limit_is_decided_by_on_timeout() -> None:
    verdict = _ask(lambda _r: httpx.Response(200, content=b" " * (MAX_ANSWER_BYTES + 1)))
    assert verdict == Verdict("skip", f"the answer is over {MAX_ANSWER_BYTES} bytes", "onTimeout")


def test_a_loopback_destination_is_refused_before_anything_is_sent() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"action": "dial"})

    hook = PreDialHook("http://127.0.0.1/pre", 500, "skip", SECRET)
    verdict = _ask(handle, hook, allow_private=False)
    assert sent == []
    assert verdict.decided_by == "onTimeout" and "destination refused" in verdict.reason


def test_every_check_is_counted_by_verdict_and_timed() -> None:
    """batchdial_predial_verdicts_total{action,decided_by} and the duration histogram
    move with each check: a hook's skip, and a timeout decided by onTimeout."""

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_skip = value("batchdial_predial_verdicts_total", action="skip", decided_by="hook")
    before_late = value("batchdial_predial_verdicts_total", action="skip", decided_by="onTimeout")
    before_n = value("batchdial_predial_duration_seconds_count")
    _ask(lambda _r: httpx.Response(200, json={"action": "skip"}))

    def late(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    _ask(late)
    after_skip = value("batchdial_predial_verdicts_total", action="skip", decided_by="hook")
    after_late = value("batchdial_predial_verdicts_total", action="skip", decided_by="onTimeout")
    assert (after_skip - before_skip, after_late - before_late) == (1, 1)
    assert value("batchdial_predial_duration_seconds_count") - before_n == 2
