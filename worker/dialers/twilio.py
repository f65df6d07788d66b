"""The twilio dialer: places each dial with Twilio Programmable Voice (SPEC §8.1).

``POST {api base}/2010-04-01/Accounts/{AccountSid}/Calls.json`` (HTTP Basic
``AccountSid:AuthToken``, form-encoded), as the Call resource reference describes
(twilio.com/docs/voice/api/call-resource, "Create a Call resource"): ``To``, ``From``
(the pool number), ``Url`` (the agent's TwiML, ``BATCHDIAL_TWILIO_AGENT_URL`` filled
with ``callAgentId`` and ``dialId``), ``StatusCallback`` (our
``/api/providers/twilio/status`` with ``?dialId=`` so that each callback names its dial),
``StatusCallbackEvent`` (one parameter per event, as Twilio's own SDK sends them),
``StatusCallbackMethod=POST``, and ``MachineDetection`` when the job's ``voicemail``
asks for it (:data:`MACHINE_DETECTION`). A 201 hands the call to Twilio, which reports
its progress and end by callback; its ``sid`` (``CA…``) is recorded on the dial.

It talks to the REST API over ``httpx.AsyncClient`` rather than the ``twilio`` SDK:
the SDK's client is synchronous (it would hold a worker thread for each create), and
placing must run as a coroutine on the process's event loop (worker/engine/loop.py).

Create-call has no idempotency key, so a create whose answer is lost is never repeated
blindly (:meth:`TwilioDialer._reconcile`): errors before anything was sent (connection
refused, DNS, a pool timeout) are retried; after the request went out (a timeout, a
dropped connection, a 5xx) the dialer first lists Twilio's calls to this ``To`` from
this ``From`` created since the dial started, and adopts the call it finds; if that
list fails too, the dial ends ``failed`` with ``reason: placement_unknown`` (never
retried: the person may have been called). A 429 (code 20429) places no call: the row
goes back to its job (``Placed.retry_in_s``). Other 4xx answers fail the dial with
Twilio's ``code`` and ``message`` in its details.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import structlog

from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.dialers.loopclient import LoopClient, json_of
from worker.metrics import PROVIDER_ERRORS, PROVIDER_RETRIES

log = structlog.get_logger(__name__)

CARRIER = "twilio"
#: Where Twilio's status callbacks go, under ``BATCHDIAL_PUBLIC_URL``.
STATUS_PATH = "/api/providers/twilio/status"
#: The call progress events asked for (Call resource: ``StatusCallbackEvent``).
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
#: The job's ``voicemail.action`` -> Twilio's ``MachineDetection`` (answering machine
#: detection, twilio.com/docs/voice/answering-machine-detection). ``Enable`` answers
#: as soon as Twilio knows who picked up (to hang up on a machine, or retry later);
#: ``DetectMessageEnd`` waits for the greeting's end (the beep), so that the agent's
#: TwiML can leave a message.
MACHINE_DETECTION = {"hangup": "Enable", "retry": "Enable", "leave_message": "DetectMessageEnd"}
#: Twilio's error code for "too many requests" (with HTTP 429).
RATE_LIMITED_CODE = 20429
#: Seconds before each retry of a create that surely did not reach Twilio.
DEFAULT_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
#: Seconds a rate-limited row waits before it is dialed again (plus up to half again,
#: at random, so that rows refused together do not come back together).
RATE_LIMIT_WAIT_S = 1.0
#: Seconds to wait after a lost answer before listing calls: a create that Twilio is
#: still processing should show up in the list.
RECONCILE_DELAY_S = 1.0
#: Calls created up to this many seconds before the dial's start still count as its
#: own when reconciling (clocks differ; Twilio's times have whole seconds).
RECONCILE_SKEW_S = 5.0
#: Errors raised before any byte of the request was sent: retrying cannot make a
#: second call.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class TwilioDialer:
    """Places calls with Twilio's Calls API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        agent_url: str,
        public_url: str,
        api_base: str = "https://api.twilio.com",
        timeout_s: float = 10.0,
        backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S,
        rate_limit_wait_s: float = RATE_LIMIT_WAIT_S,
        reconcile_delay_s: float = RECONCILE_DELAY_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._agent_url = agent_url
        self._public_url = public_url.rstrip("/")
        self.calls_url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Calls.json"
        self._backoff = backoff_s
        self._rate_limit_wait_s = rate_limit_wait_s
        self._reconcile_delay_s = reconcile_delay_s
        self._sleep = sleep
        self._clock = clock
        self._http = LoopClient(timeout_s, client)

    def place(self, request: DialRequest, on_end: OnEnd) -> Coroutine[Any, Any, Placed]:
        """A coroutine that creates the call (run it on the event loop)."""
        return self._create(request)

    def status_callback(self, dial_id: str) -> str:
        """The ``StatusCallback`` URL of one dial (Twilio signs it, query included)."""
        return f"{self._public_url}{STATUS_PATH}?{urlencode({'dialId': dial_id})}"

    def form(self, request: DialRequest) -> list[tuple[str, str]]:
        """The create-call parameters of ``request``, in order."""
        url = self._agent_url.format(
            callAgentId=quote(request.call_agent_id, safe=""), dialId=quote(request.dial_id)
        )
        form = [
            ("To", request.to_number),
            ("From", request.from_number),
            ("Url", url),
            ("StatusCallback", self.status_callback(request.dial_id)),
            ("StatusCallbackMethod", "POST"),
            *(("StatusCallbackEvent", event) for event in STATUS_EVENTS),
        ]
        detection = MACHINE_DETECTION.get(request.voicemail or "")
        if detection:
            form.append(("MachineDetection", detection))
        return form

    async def _create(self, request: DialRequest) -> Placed:
        started = self._clock()
        body = urlencode(self.form(request)).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        client = self._http.get()
        problem = ""
        for attempt, pause in enumerate((0.0, *self._backoff)):
            if pause:
                PROVIDER_RETRIES.inc()
                await self._sleep(pause)
            try:
                answer = await client.post(
                    self.calls_url, content=body, headers=headers, auth=self._auth
                )
            except NOT_SENT as exc:
                PROVIDER_ERRORS.labels("connect").inc()
                problem = f"Twilio unreachable: {type(exc).__name__}"
                log.warning("twilio_create_not_sent", dial_id=request.dial_id, attempt=attempt + 1)
                continue
            except httpx.HTTPError as exc:
                PROVIDER_ERRORS.labels(
                    "timeout" if isinstance(exc, httpx.TimeoutException) else "connect"
                ).inc()
                log.warning(
                    "twilio_create_answer_lost",
                    dial_id=request.dial_id,
                    attempt=attempt + 1,
                    error=type(exc).__name__,
                )
                found = await self._reconcile(request, started)
                if isinstance(found, Placed):
                    return found
                problem = f"Twilio's answer was lost ({type(exc).__name__}); no call was made"
                continue
            if answer.status_code in (200, 201):
                return self._created(answer)
            error = _error_of(answer)
            if answer.status_code == 429 or error.get("code") == RATE_LIMITED_CODE:
                PROVIDER_ERRORS.labels("4xx").inc()
                wait_s = self._rate_limit_wait_s * (1 + random.random() / 2)  # noqa: S311
                log.info("twilio_rate_limited", dial_id=request.dial_id, retry_in_s=wait_s)
                return Placed(retry_in_s=wait_s, reason="rate_limited", details=error)
            if answer.status_code >= 500:
                # Twilio may have created the call before failing: look before retrying.
                PROVIDER_ERRORS.labels("5xx").inc()
                found = await self._reconcile(request, started)
                if isinstance(found, Placed):
                    return found
                problem = f"Twilio answered {answer.status_code}; no call was made"
                continue
            PROVIDER_ERRORS.labels("4xx").inc()
            return Placed(
                status="failed",
                reason=f"Twilio refused the call ({answer.status_code})",
                details=error,
            )
        return Placed(status="failed", reason=f"{problem} after {len(self._backoff) + 1} attempts")

    @staticmethod
    def _created(answer: httpx.Response) -> Placed:
        data = json_of(answer)
        sid = data.get("sid") if isinstance(data, dict) else None
        if not isinstance(sid, str) or not sid:
            # Created, but we cannot name the call: its callbacks still name the dial.
            return Placed(handoff=True, carrier=CARRIER)
        return Placed(handoff=True, carrier=CARRIER, call_id=sid, details={"CallSid": sid})

    async def _reconcile(self, request: DialRequest, started: float) -> Placed | bool:
        """After a lost answer: the call Twilio made for this dial (a handoff), False if
        it made none (the create may be sent again), or the end ``placement_unknown``
        when the list cannot be read.

        Filters by ``To`` and ``From`` only and compares ``date_created`` here:
        ``StartTime`` stays empty until a call is dialed (Call resource reference), so a
        queued call would escape a ``StartTime>=`` filter.
        """
        await self._sleep(self._reconcile_delay_s)
        since = datetime.fromtimestamp(started - RECONCILE_SKEW_S, UTC)
        params = {"To": request.to_number, "From": request.from_number, "PageSize": "50"}
        try:
            answer = await self._http.get().get(self.calls_url, params=params, auth=self._auth)
            answer.raise_for_status()
            calls = answer.json()["calls"]
            found = [call for call in calls if _created_since(call, since)]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("twilio_reconcile_failed", dial_id=request.dial_id, error=repr(exc))
            return Placed(
                status="failed",
                reason="placement_unknown",
                details={"error": f"listing calls failed: {type(exc).__name__}"},
            )
        if not found:
            log.info("twilio_reconciled_no_call", dial_id=request.dial_id)
            return False
        # The newest of them, whatever order the page lists them in.
        newest = max(found, key=lambda call: _created_at(call) or datetime.max.replace(tzinfo=UTC))
        sid = str(newest["sid"])
        log.warning("twilio_reconciled_call", dial_id=request.dial_id, call_sid=sid)
        return Placed(
            handoff=True, carrier=CARRIER, call_id=sid, details={"CallSid": sid, "adopted": True}
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _error_of(answer: httpx.Response) -> dict[str, Any]:
    """Twilio's error body (``code``, ``message``, ``more_info``, ``status``), bounded."""
    data = json_of(answer)
    if not isinstance(data, dict):
        return {"status": answer.status_code}
    return {
        key: data[key] if isinstance(data[key], int) else str(data[key])[:300]
        for key in ("code", "message", "more_info", "status")
        if key in data
    }


def _created_at(call: dict[str, Any]) -> datetime | None:
    """When a listed call was created (``date_created``, RFC 2822), if it says."""
    raw = call.get("date_created")
    if not isinstance(raw, str):
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None


def _created_since(call: dict[str, Any], since: datetime) -> bool:
    """Whether a listed call was created at or after ``since``; one that gives no time
    counts as ours rather than call twice."""
    created = _created_at(call)
    return created is None or created >= since
