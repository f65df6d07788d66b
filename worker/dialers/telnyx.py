"""The telnyx dialer: places each dial with Telnyx Call Control, v2 (SPEC §8.1).

``POST {api base}/v2/calls`` (``Authorization: Bearer <API key>``, JSON), the "Dial"
command of developers.telnyx.com (Call Commands): ``connection_id`` (the Call Control
Application), ``to``, ``from`` (the pool number), ``webhook_url`` (our
``/api/providers/telnyx/events``: this call's webhooks go there, not to the
application's own URL), ``client_state`` (the dial id and ``callAgentId``,
:func:`domain.telnyx.encode_client_state`), ``command_id`` (the dial id, below),
``answering_machine_detection`` when the job's ``voicemail`` asks for it
(:data:`MACHINE_DETECTION`), ``time_limit_secs``, and the agent's media stream
(``stream_url``) when ``BATCHDIAL_TELNYX_STREAM_URL`` is set. A 200 answers
``{"data": {"call_control_id", "call_leg_id", "call_session_id", …}}`` and hands the
call to Telnyx, which reports its progress and end by webhook; the
``call_control_id`` is recorded on the dial.

REST over ``httpx.AsyncClient`` rather than the ``telnyx`` SDK, although the SDK has an
asyncio client (``AsyncTelnyx``, itself over httpx): its client retries on its own
(twice by default) after timeouts and 5xx answers, which for a Dial whose answer was
lost is the second call this dialer must never make blindly; its ``APIConnectionError``
/ ``APITimeoutError`` do not say whether the request left (a refused connection is
safe to retry, a read timeout is not); and it is a 24 MB package of 3,300 modules for
two requests. The tests use the SDK's own webhook verifier (tests/unit/test_telnyx.py).

**Never two calls for one dial.** Every Dial of a dial carries ``command_id`` = the
dial id: "Commands with duplicate command_ids within 60 seconds will be ignored"
(developers.telnyx.com, Receiving Webhooks; Command Retries). That window is short and
the answer to an ignored duplicate is not documented, so a Dial whose answer is lost
(a timeout or a dropped connection after the request went out, or a 5xx) is not simply
sent again: the connection's active calls (``GET /v2/connections/{id}/active_calls``)
are listed first and a call whose ``client_state`` names this dial is adopted. Only
when none is listed is the Dial sent again, under the same ``command_id`` and only
within :data:`RESEND_WITHIN_S` of the first send. If the list cannot be read, the
window has passed, or a re-sent Dial is refused, the dial ends ``failed`` with
``reason: placement_unknown`` (never retried: the person may have been called).
Errors before anything was sent (connection refused, DNS, a pool timeout) are retried.
A 429 (code 90103, dials per second, or 10011) places no call: the row goes back to
its job (``Placed.retry_in_s``, after ``x-ratelimit-reset`` seconds when Telnyx says).
Other 4xx answers fail the dial with Telnyx's error in its details.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from domain.telnyx import decode_client_state, encode_client_state
from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.dialers.loopclient import LoopClient, json_of
from worker.metrics import PROVIDER_ERRORS, PROVIDER_RETRIES

log = structlog.get_logger(__name__)

CARRIER = "telnyx"
#: Where this call's webhooks go, under ``BATCHDIAL_PUBLIC_URL``.
EVENTS_PATH = "/api/providers/telnyx/events"
#: The job's ``voicemail.action`` -> Dial's ``answering_machine_detection`` (standard
#: detection: ``call.machine.detection.ended`` with ``human``/``machine``/``not_sure``).
#: ``greeting_end`` also reports the end of a machine's greeting (the beep), so that the
#: agent can leave a message: as Twilio's ``Enable`` / ``DetectMessageEnd``.
MACHINE_DETECTION = {"hangup": "detect", "retry": "detect", "leave_message": "greeting_end"}
#: Telnyx's rate-limit error codes (with HTTP 429): 90103, the account's dials per
#: second ("Dials Per Second Limit": 30 by default, summed over 5 s), and 10011, the API's
#: general "Too many requests" ("Rate Limiting").
RATE_LIMITED_CODES = ("90103", "10011")
#: Seconds before each retry of a Dial that surely did not reach Telnyx.
DEFAULT_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
#: Seconds a rate-limited row waits at least before it is dialed again (plus up to half
#: again, at random); at most :data:`MAX_RATE_LIMIT_WAIT_S` whatever Telnyx says.
RATE_LIMIT_WAIT_S = 1.0
MAX_RATE_LIMIT_WAIT_S = 60.0
#: Seconds to wait after a lost answer before listing calls.
RECONCILE_DELAY_S = 1.0
#: A Dial is sent again after a lost answer only this long after the first send:
#: Telnyx ignores a repeated ``command_id`` for 60 s, and clocks and queues differ.
RESEND_WITHIN_S = 45.0
#: Active calls read per page, and the most pages read before giving up.
PAGE_SIZE = 250
MAX_PAGES = 20
#: The Dial's ``time_limit_secs`` is at most Telnyx's own maximum (4 hours).
MAX_TIME_LIMIT_S = 14400
#: Errors raised before any byte of the request was sent: retrying cannot make a
#: second call.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True, slots=True)
class _Again:
    """A Dial to send again: why, whether the last one may have reached Telnyx, and how
    long to wait first (beyond the backoff)."""

    problem: str
    sent: bool
    wait_s: float = 0.0


def _unknown(why: str) -> Placed:
    return Placed(status="failed", reason="placement_unknown", details={"error": why})


class TelnyxDialer:
    """Places calls with Telnyx's Dial command."""

    def __init__(
        self,
        api_key: str,
        *,
        connection_id: str,
        public_url: str,
        api_base: str = "https://api.telnyx.com",
        stream_url: str | None = None,
        time_limit_s: float | None = None,
        timeout_s: float = 10.0,
        backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S,
        rate_limit_wait_s: float = RATE_LIMIT_WAIT_S,
        reconcile_delay_s: float = RECONCILE_DELAY_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._connection_id = connection_id
        self._public_url = public_url.rstrip("/")
        base = api_base.rstrip("/")
        self.calls_url = f"{base}/v2/calls"
        self.active_calls_url = (
            f"{base}/v2/connections/{quote(connection_id, safe='')}/active_calls"
        )
        self._stream_url = stream_url
        self._time_limit_s = (
            None if time_limit_s is None else max(1, min(MAX_TIME_LIMIT_S, int(time_limit_s)))
        )
        self._backoff = backoff_s
        self._rate_limit_wait_s = rate_limit_wait_s
        self._reconcile_delay_s = reconcile_delay_s
        self._sleep = sleep
        self._clock = clock
        self._http = LoopClient(timeout_s, client)

    def place(self, request: DialRequest, on_end: OnEnd) -> Coroutine[Any, Any, Placed]:
        """A coroutine that dials (run it on the event loop)."""
        return self._dial(request)

    @property
    def webhook_url(self) -> str:
        """Where the calls' webhooks go."""
        return f"{self._public_url}{EVENTS_PATH}"

    def body(self, request: DialRequest) -> dict[str, Any]:
        """The Dial command of ``request``."""
        body: dict[str, Any] = {
            "connection_id": self._connection_id,
            "to": request.to_number,
            "from": request.from_number,
            "webhook_url": self.webhook_url,
            "webhook_url_method": "POST",
            "client_state": encode_client_state(request.dial_id, request.call_agent_id),
            "command_id": request.dial_id,
        }
        detection = MACHINE_DETECTION.get(request.voicemail or "")
        if detection:
            body["answering_machine_detection"] = detection
        if self._time_limit_s is not None:
            body["time_limit_secs"] = self._time_limit_s
        if self._stream_url:
            body["stream_url"] = self._stream_url.format(
                callAgentId=quote(request.call_agent_id, safe=""), dialId=quote(request.dial_id)
            )
            body["stream_track"] = "both_tracks"
            body["stream_bidirectional_mode"] = "rtp"
        return body

    async def _dial(self, request: DialRequest) -> Placed:
        body = self.body(request)
        client = self._http.get()
        problem = ""
        #: When a Dial that may have reached Telnyx was first sent (None: none yet).
        first_sent: float | None = None
        pauses = (0.0, *self._backoff)
        for attempt, pause in enumerate(pauses):
            if pause:
                PROVIDER_RETRIES.inc()
                await self._sleep(pause)
            now = self._clock()
            if first_sent is not None and now - first_sent > RESEND_WITHIN_S:
                return _unknown(f"{problem}; no call listed, and it is too late to send again")
            outcome = await self._attempt(client, body, request, resend=first_sent is not None)
            if isinstance(outcome, Placed):
                return outcome
            problem = outcome.problem
            if outcome.sent and first_sent is None:
                first_sent = now
            log.warning(
                "telnyx_dial_again", dial_id=request.dial_id, attempt=attempt + 1, problem=problem
            )
            if outcome.wait_s:
                await self._sleep(outcome.wait_s)
        if first_sent is not None:
            return _unknown(f"{problem}; no call listed after {len(pauses)} attempts")
        return Placed(status="failed", reason=f"{problem} after {len(pauses)} attempts")

    async def _attempt(
        self, client: httpx.AsyncClient, body: dict[str, Any], request: DialRequest, *, resend: bool
    ) -> Placed | _Again:
        """Send the Dial once: what it gave, or why (and whether) to send it again."""
        try:
            answer = await client.post(self.calls_url, json=body, headers=self._headers)
        except NOT_SENT as exc:
            PROVIDER_ERRORS.labels("connect").inc()
            return _Again(f"Telnyx unreachable: {type(exc).__name__}", sent=False)
        except httpx.HTTPError as exc:
            timeout = isinstance(exc, httpx.TimeoutException)
            PROVIDER_ERRORS.labels("timeout" if timeout else "connect").inc()
            lost = f"Telnyx's answer was lost ({type(exc).__name__})"
        else:
            if answer.status_code < 500:
                return self._judge(answer, request, resend=resend)
            # Telnyx may have dialed before failing: look before sending again.
            PROVIDER_ERRORS.labels("5xx").inc()
            lost = f"Telnyx answered {answer.status_code}"
        found = await self._reconcile(request)
        return found if isinstance(found, Placed) else _Again(lost, sent=True)

    def _judge(
        self, answer: httpx.Response, request: DialRequest, *, resend: bool
    ) -> Placed | _Again:
        """What an answer below 500 means (``resend``: an earlier Dial may have dialed)."""
        if answer.status_code in (200, 201):
            return self._created(answer, adopted=False)
        PROVIDER_ERRORS.labels("4xx").inc()
        error = _error_of(answer)
        if answer.status_code == 429 or error.get("code") in RATE_LIMITED_CODES:
            wait_s = self._rate_limit_wait(answer)
            if resend:
                # A call may exist already: a put-back would dial the row under a new
                # dial id (a new command_id); wait and send this Dial again instead.
                return _Again("Telnyx rate-limited the Dial sent again", sent=True, wait_s=wait_s)
            log.info("telnyx_rate_limited", dial_id=request.dial_id, retry_in_s=wait_s)
            return Placed(retry_in_s=wait_s, reason="rate_limited", details=error)
        if resend:
            # Perhaps refused as the duplicate of a call that was made and has ended.
            return _unknown(f"the Dial sent again after a lost answer was refused ({error})")
        return Placed(
            status="failed", reason=f"Telnyx refused the call ({answer.status_code})", details=error
        )

    def _rate_limit_wait(self, answer: httpx.Response) -> float:
        """Seconds before the row is dialed again: ``x-ratelimit-reset`` (seconds until
        the window resets; Telnyx "Rate Limiting") when given, bounded, plus jitter."""
        wait_s = self._rate_limit_wait_s
        with contextlib.suppress(TypeError, ValueError):
            wait_s = max(wait_s, float(answer.headers.get("x-ratelimit-reset", "")))
        return min(MAX_RATE_LIMIT_WAIT_S, wait_s) * (1 + random.random() / 2)  # noqa: S311

    @staticmethod
    def _created(answer: httpx.Response | dict[str, Any], *, adopted: bool) -> Placed:
        if isinstance(answer, httpx.Response):
            try:
                data = answer.json().get("data")
            except (ValueError, AttributeError):
                data = None
        else:
            data = answer
        call_id = data.get("call_control_id") if isinstance(data, dict) else None
        if not isinstance(call_id, str) or not call_id:
            # Dialed, but we cannot name the call: its webhooks still name the dial.
            return Placed(handoff=True, carrier=CARRIER)
        details: dict[str, Any] = {"callControlId": call_id}
        if adopted:
            details["adopted"] = True
        return Placed(handoff=True, carrier=CARRIER, call_id=call_id, details=details)

    async def _reconcile(self, request: DialRequest) -> Placed | bool:
        """After a lost answer: the call Telnyx made for this dial (a handoff), False if
        none is listed (the Dial may be sent again), or the end ``placement_unknown`` when
        the list cannot be read whole.

        The active calls of the connection (developers.telnyx.com, Call Information:
        "List all active calls for given connection", cursor paginated) carry each
        call's ``client_state``: ours names the dial.
        """
        await self._sleep(self._reconcile_delay_s)
        params: dict[str, str] = {"page[size]": str(PAGE_SIZE)}
        try:
            for _ in range(MAX_PAGES):
                answer = await self._http.get().get(
                    self.active_calls_url, params=params, headers=self._headers
                )
                answer.raise_for_status()
                page = answer.json()
                for call in page["data"]:
                    state = decode_client_state(call.get("client_state"))
                    if state.get("dialId") == request.dial_id:
                        log.warning(
                            "telnyx_reconciled_call",
                            dial_id=request.dial_id,
                            call_control_id=call.get("call_control_id"),
                        )
                        return self._created(call, adopted=True)
                following = _next_page(page, params)
                if following is None:
                    log.info("telnyx_reconciled_no_call", dial_id=request.dial_id)
                    return False
                params = following
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("telnyx_reconcile_failed", dial_id=request.dial_id, error=repr(exc))
            return _unknown(f"listing active calls failed: {type(exc).__name__}")
        return _unknown(f"more than {MAX_PAGES * PAGE_SIZE} active calls to look through")

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _next_page(page: dict[str, Any], params: dict[str, str]) -> dict[str, str] | None:
    """The query of the page after ``page``, or None when it was the last: by cursor
    (``meta.cursors.after``, as the reference's example answers) or by page number
    (``meta.page_number`` / ``meta.total_pages``, as the SDK pages)."""
    meta = page.get("meta")
    if not isinstance(meta, dict) or not page.get("data"):
        return None
    cursors = meta.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        return {"page[size]": params["page[size]"], "page[after]": after}
    number, total = meta.get("page_number"), meta.get("total_pages")
    if isinstance(number, int) and isinstance(total, int) and number < total:
        return {"page[size]": params["page[size]"], "page[number]": str(number + 1)}
    return None


def _error_of(answer: httpx.Response) -> dict[str, Any]:
    """Telnyx's first error (``{"errors": [{"code", "title", "detail"}]}``), bounded."""
    data = json_of(answer)
    errors = data.get("errors") if isinstance(data, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return {"status": answer.status_code}
    kept: dict[str, Any] = {"status": answer.status_code}
    for key in ("code", "title", "detail"):
        if key in first:
            kept[key] = str(first[key])[:300]
    return kept
