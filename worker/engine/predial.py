"""The pre-dial check (SPEC §8.2 ``preDialWebhook``, docs/webhooks.md "Pre-dial check").

After a row is claimed (its slots and its dial are ours) and before the dialer places
the call, the job's hook is POSTed ``{"type": "dial.pre", "timestamp", "data": <the
dial about to start>}``, signed as webhook deliveries are (Standard Webhooks, keyed
with the job's ``preDialSecret``), and answers ``{"action": "dial" | "skip" |
"defer", "deferSeconds", "reason"}``. The request runs on the process's event loop
(:mod:`worker.engine.loop`) and is cut off at the hook's ``timeoutMs`` (resolving its
host and refusing a non-public address included), so it never holds a thread, nor the
slot longer than that. No usable answer (timeout, refused connection, non-2xx, a body
that is not one of the answers) is decided by the hook's ``onTimeout``.

``skip`` and ``defer`` take the dial back in one script (``predial.lua``): the slot is
free at once, no call is counted; a skipped row ends ``skipped`` (``row.skipped``), a
deferred one is held (queue ``waitingFor: "preDial"``) and asked about again when it
comes up again.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import redis

from domain.dials import DialRef
from domain.keys import Keys
from domain.members import dial_member, job_member
from domain.metrics import PREDIAL_DURATION, PREDIAL_VERDICTS
from domain.protocol import PreDialOutcome, parse_predial
from domain.scripts import Scripts
from domain.time.timefmt import iso_ms
from domain.webhooks.signing import headers
from worker.dialers.base import DialRequest
from worker.http1 import Http1Client, HttpError, Timeout, TooLong
from worker.webhooks.pinning import checked_address

Action = Literal["dial", "skip", "defer"]
ACTIONS: tuple[str, ...] = get_args(Action)
DecidedBy = Literal["hook", "onTimeout"]

#: A deferral without ``deferSeconds`` (and ``onTimeout: "defer"``) waits this long.
DEFAULT_DEFER_S = 60
#: The longest deferral taken (a longer one is cut to it).
MAX_DEFER_S = 86_400
#: The most of an answer's body that is read (an answer is a small JSON object).
MAX_ANSWER_BYTES = 16_384
#: The most of a reason kept in ``row.skipped``.
MAX_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class PreDialHook:
    """A job's ``preDialWebhook`` with the secret that signs its requests."""

    url: str
    timeout_ms: int
    on_timeout: Action
    secret: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with the claimed dial, why, and who decided (the hook or onTimeout)."""

    action: Action
    reason: str
    decided_by: DecidedBy
    defer_s: float = DEFAULT_DEFER_S


def hook_of(config: dict[str, Any], secret: str | None) -> PreDialHook | None:
    """The hook of a stored job config (None: no hook, or no secret to sign with yet)."""
    raw = config.get("preDialWebhook")
    if not isinstance(raw, dict) or not secret:
        return None
    return PreDialHook(
        url=str(raw["url"]),
        timeout_ms=int(raw.get("timeoutMs", 3000)),
        on_timeout=cast(Action, raw.get("onTimeout", "dial")),
        secret=secret,
    )


def fallback(hook: PreDialHook, why: str) -> Verdict:
    """No usable answer: the hook's ``onTimeout`` decides."""
    return Verdict(hook.on_timeout, why[:MAX_REASON_CHARS], "onTimeout")


def verdict_of(hook: PreDialHook, status: int, body: bytes) -> Verdict:
    """The verdict of the hook's answer (status and body); a non-2xx status or a body
    that is not an answer falls back to ``onTimeout``."""
    try:
        return _read_answer(status, body)
    except ValueError as exc:
        return fallback(hook, str(exc))


def _read_answer(status: int, body: bytes) -> Verdict:
    """The hook's verdict; ValueError says what is wrong with the answer."""
    if not 200 <= status < 300:
        raise ValueError(f"HTTP {status}")
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    action = answer.get("action")
    if action not in ACTIONS:
        raise ValueError(f"the answer's action {action!r} is not one of {list(ACTIONS)}")
    reason = answer.get("reason")
    text = reason[:MAX_REASON_CHARS] if isinstance(reason, str) and reason else f"hook: {action}"
    if action != "defer":
        return Verdict(cast(Action, action), text, "hook")
    wait = answer.get("deferSeconds", DEFAULT_DEFER_S)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait):
        raise ValueError(f"the answer's deferSeconds {wait!r} is not a number")
    if wait < 0:
        raise ValueError(f"the answer's deferSeconds {wait!r} is negative")
    return Verdict("defer", text, "hook", min(float(wait), MAX_DEFER_S))


def request_body(request: DialRequest, now_ms: int) -> str:
    """The JSON body POSTed to the hook: the row and the dial about to start."""
    data = {
        "jobId": request.job_id,
        "rowId": request.row_id,
        "dialId": request.dial_id,
        "toNumber": request.to_number,
        "fromNumber": request.from_number,
        "callAgentId": request.call_agent_id,
        "inputs": request.inputs,
        "attempt": request.attempt,
    }
    event = {"type": "dial.pre", "timestamp": iso_ms(now_ms), "data": data}
    return json.dumps(event, separators=(",", ":"))


class PreDial:
    """Asks jobs' hooks (on the loop) and takes back the dials they skip or defer."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        allow_private: bool = False,
        http: Http1Client | None = None,
    ) -> None:
        self._k = keys
        self.allow_private = allow_private
        self._scripts = Scripts(client, "engine")
        # The timeout given per request is the hook's; this one is only the client's default.
        self._http = http or Http1Client(10.0, max_body=MAX_ANSWER_BYTES)

    async def ask(self, hook: PreDialHook, request: DialRequest) -> Verdict:
        """On the event loop: the hook's verdict on ``request``, within its timeout."""
        timeout_s = hook.timeout_ms / 1000
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                verdict = await self._ask(hook, request, timeout_s)
        except (TimeoutError, Timeout):
            verdict = fallback(hook, f"no answer within {hook.timeout_ms} ms")
        except TooLong:
            verdict = fallback(hook, f"the answer is over {MAX_ANSWER_BYTES} bytes")
        except HttpError as exc:
            verdict = fallback(hook, f"{type(exc).__name__}: {exc}")
        PREDIAL_DURATION.observe(time.perf_counter() - started)
        PREDIAL_VERDICTS.labels(verdict.action, verdict.decided_by).inc()
        return verdict

    async def _ask(self, hook: PreDialHook, request: DialRequest, timeout_s: float) -> Verdict:
        address = None
        if not self.allow_private:  # resolved once: the connection goes there
            problem, address = await checked_address(hook.url)
            if problem:
                return fallback(hook, f"destination refused: {problem}")
        now_ms = int(time.time() * 1000)
        body = request_body(request, now_ms)
        sent = headers(hook.secret, f"pre_{request.dial_id}", now_ms // 1000, body)
        answer = await self._http.request(
            "POST",
            hook.url,
            body=body.encode(),
            headers=sent,
            connect_to=address,
            timeout_s=timeout_s,
            resend=True,  # the hook tells a copy by its webhook-id
        )
        return verdict_of(hook, answer.status, answer.body)

    def withdraw(self, ref: DialRef, verdict: Verdict) -> PreDialOutcome:
        """On a thread: take back a dial the hook skipped or deferred (``predial.lua``)."""
        wait_ms = round(verdict.defer_s * 1000) if verdict.action == "defer" else 0
        return parse_predial(
            self._scripts(
                "predial",
                self._k.script_keys(ref.ws_id, ref.job_id),
                [
                    job_member(ref.ws_id, ref.job_id),
                    ref.job_id,
                    ref.dial_id,
                    verdict.action,
                    wait_ms,
                    dial_member(ref.ws_id, ref.job_id, ref.dial_id),
                    verdict.reason,
                    verdict.decided_by,
                ],
            )
        )

    def close(self) -> None:
        """Close the HTTP client's kept connections (on the loop, while it still runs)."""
        self._http.close()
