"""A stand-in for Telnyx Call Control (v2) and its webhooks, built from Telnyx's public
reference (developers.telnyx.com: Call Commands "Dial", Call Information "List all
active calls for given connection", the Call Control webhooks, "Rate Limiting",
"Dials Per Second Limit", "Webhook Fundamentals"), for the telnyx dialer's tests.

- ``POST /v2/calls``: ``Authorization: Bearer <API key>`` checked (401, code 10009),
  the JSON checked (``connection_id`` this connection, ``to``/``from`` in E.164,
  ``client_state`` base64: 422 with code 10015 / 10016 otherwise), a 200 ``{"data":
  {"call_control_id", "call_leg_id", "call_session_id", "is_alive": false, …}}``.
  ``command_id``: a repeated one within 60 s makes no call (it is answered with the
  call the first one made). Errors as ``{"errors": [{"code", "title", "detail"}]}``;
  429 with code 90103 (the account's dials per second, "Dials Per Second Limit") and
  ``x-ratelimit-reset`` for the numbers told.
- ``POST /v2/calls/{call_control_id}/actions/hangup`` (Call Commands "Hangup call"):
  the call ends; 422 (code 90018) for a call that has ended.
- ``GET /v2/connections/{id}/active_calls``: the calls not yet hung up, newest first,
  cursor-paginated (``page[size]``, ``page[after]``; ``meta.cursors.after``).
- Each call then lives through its :class:`Script`: ``call.initiated``,
  ``call.answered``, ``call.machine.detection.ended`` (when the Dial asked for
  detection), ``call.hangup`` with its ``hangup_cause``, POSTed as JSON to the Dial's
  ``webhook_url`` and signed as Telnyx signs them (:func:`sign`: Ed25519 over
  ``"{timestamp}|{body}"`` with a real private key, :attr:`TelnyxStandIn.public_key`
  being the account's public key). Telnyx reaches the API at its public URL; here the
  webhooks go to the API's real address, as through a proxy.

It measures calls open at once (from the Dial to the hangup) overall and per ``from``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from nacl.signing import SigningKey

from tests.support.loopback import CallLog, answer_json, serve_stand_in

API_KEY = "KEY0123456789ABCDEF_stand-in-secret"
CONNECTION_ID = "1293384261075731461"
PUBLIC_URL = "https://dialer.example.test"
EVENTS_PATH = "/api/providers/telnyx/events"
HANGUP = "/actions/hangup"
#: Causes of a call that was answered (``call.answered`` comes first).
ANSWERED = ("normal_clearing", "time_limit")
#: The SIP code Telnyx reports beside each cause (``sip_hangup_cause``).
SIP_CODES = {
    "normal_clearing": "200",
    "time_limit": "200",
    "user_busy": "486",
    "call_rejected": "603",
    "timeout": "480",
    "no_answer": "480",
    "originator_cancel": "487",
    "not_found": "404",
    "unspecified": "unspecified",
}
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def sign(key: SigningKey, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Telnyx signs a webhook with: ``telnyx-timestamp`` (unix seconds) and
    ``telnyx-signature-ed25519``, the base64 Ed25519 signature of
    ``"{timestamp}|{body}"``. Written here from the reference, independently of
    batchdial's verifier (and with another library: PyNaCl)."""
    t = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(t.encode() + b"|" + body).signature
    return {
        "telnyx-timestamp": t,
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "content-type": "application/json",
    }


@dataclass
class Script:
    """How one call goes: its hangup cause and what comes before and after."""

    #: ``hangup_cause`` of its ``call.hangup``.
    cause: str = "normal_clearing"
    #: Detection ``result`` when the Dial asked for it, one per call to the number in
    #: order (``human``, ``machine``, ``not_sure``; the last one stays).
    amd: tuple[str, ...] = ("human",)
    #: Webhooks delivered again after the hangup (Telnyx delivers at least once, in no
    #: set order): these event types, the same events freshly signed.
    replay: tuple[str, ...] = ()
    #: Hold the call answered until :meth:`TelnyxStandIn.release` is called.
    hold: bool = False


@dataclass
class Call:
    """A call the stand-in dialed."""

    dial: dict[str, Any]
    created: float
    call_control_id: str = field(default_factory=lambda: "v3:" + secrets.token_urlsafe(24))
    call_leg_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    call_session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    alive: bool = True
    #: Ended by a hangup command (``hangup_source`` ``caller``).
    by_command: bool = False
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def to(self) -> str:
        return str(self.dial["to"])

    @property
    def from_(self) -> str:
        return str(self.dial["from"])

    def data(self) -> dict[str, Any]:
        """The call as the Dial command answers it."""
        return {
            "call_control_id": self.call_control_id,
            "call_leg_id": self.call_leg_id,
            "call_session_id": self.call_session_id,
            "client_state": self.dial.get("client_state"),
            "is_alive": False,
            "record_type": "call",
        }

    def active(self) -> dict[str, Any]:
        """The call as the active-calls list shows it."""
        return {
            "call_control_id": self.call_control_id,
            "call_leg_id": self.call_leg_id,
            "call_session_id": self.call_session_id,
            "client_state": self.dial.get("client_state"),
            "call_duration": int(time.monotonic() - self.created),
            "record_type": "call",
        }


class TelnyxStandIn(CallLog[Call]):
    """The stand-in's state, behaviour and measurements."""

    def __init__(self, scripts: dict[str, Script], step_s: float = 0.15) -> None:
        self.scripts = scripts
        self.step_s = step_s
        self.key = SigningKey.generate()
        #: The account's public key, as Mission Control shows it (base64).
        self.public_key = base64.b64encode(bytes(self.key.verify_key)).decode()
        self.api_base = ""  # where the API really listens (set by the test)
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.commands: dict[str, tuple[float, Call]] = {}  # command_id -> (when, call)
        self.dials: Counter[str] = Counter()  # Dial requests per `to` (answered or not)
        self.duplicates: Counter[str] = Counter()  # repeated command_ids per `to`
        self.rate_limited: Counter[str] = Counter()
        #: Numbers whose first Dial is answered 429 / 90103 (by number, not "the first
        #: Dials", so that which row is put back does not depend on timing).
        self.rate_limit_once: set[str] = set()
        #: Numbers whose first Dial makes the call, then drops the connection unanswered.
        self.drop_after_dial: set[str] = set()
        #: A number whose dropped Dial makes every later active-calls list answer 500
        #: (after the earlier dropped calls were listed). Its call is not counted as
        #: open: batchdial gave its slot up, not knowing of it.
        self.list_fails_from: str | None = None
        self.listing_fails = False
        self.dropped: set[str] = set()  # numbers whose Dial answer was dropped
        self.listed: set[str] = set()  # numbers whose calls an active-calls answer listed
        self.list_requests = 0
        self.open = 0
        self.peak = 0
        self.open_from: Counter[str] = Counter()
        self.peak_from: Counter[str] = Counter()
        self.hangups: list[tuple[str, str]] = []  # hangup commands: (call_control_id, command_id)
        self.webhooks: list[tuple[str, str, int]] = []  # (call_control_id, event, HTTP status)
        self.errors: list[str] = []
        self.closing = threading.Event()
        self.http = httpx.Client(timeout=10)

    # -- the REST API ------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(handler.path).path
        if handler.headers.get("Authorization") != f"Bearer {API_KEY}":
            answer_json(handler, 401, _error("10009", "Authentication failed"))
        elif method == "POST" and path == "/v2/calls":
            self._dial(handler)
        elif method == "GET" and path == f"/v2/connections/{CONNECTION_ID}/active_calls":
            self._active_calls(handler)
        elif method == "POST" and path.startswith("/v2/calls/") and path.endswith(HANGUP):
            self._hangup(handler, unquote(path.removeprefix("/v2/calls/").removesuffix(HANGUP)))
        else:
            answer_json(handler, 404, _error("10005", "Resource not found"))

    def _hangup(self, handler: BaseHTTPRequestHandler, call_control_id: str) -> None:
        """Call Commands "Hangup call": the call ends (its ``call.hangup`` follows)."""
        length = int(handler.headers.get("content-length", "0"))
        command = json.loads(handler.rfile.read(length) or b"{}").get("command_id")
        with self.lock:
            call = next((c for c in self.calls if c.call_control_id == call_control_id), None)
            if call is None or not call.alive:
                answer_json(handler, 422, _error("90018", "Call has already ended"))
                return
            self.hangups.append((call_control_id, str(command)))
            call.by_command = True
            call.release.set()
        answer_json(handler, 200, {"data": {"result": "ok"}})

    def _active_calls(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        with self.lock:
            self.list_requests += 1
            if self.listing_fails:
                answer_json(handler, 500, _error("10007", "Unexpected error"))
                return
            alive = [c for c in reversed(self.calls) if c.alive]
        size = int(query.get("page[size]", ["20"])[0])
        start = int(base64.b64decode(query["page[after]"][0])) if "page[after]" in query else 0
        page = alive[start : start + size]
        with self.lock:
            self.listed.update(c.to for c in page)
        after = base64.b64encode(str(start + size).encode()).decode()
        cursors = {"after": after} if start + size < len(alive) else {}
        answer_json(
            handler, 200, {"data": [c.active() for c in page], "meta": {"cursors": cursors}}
        )

    def _dial(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        try:
            dial = json.loads(handler.rfile.read(length))
        except ValueError:
            answer_json(handler, 400, _error("10015", "Bad Request", "the body is not JSON"))
            return
        to = str(dial.get("to", ""))
        with self.lock:
            self.dials[to] += 1
            limited = to in self.rate_limit_once
            if limited:
                self.rate_limit_once.discard(to)
                self.rate_limited[to] += 1
        problem = _invalid(dial)
        if problem:
            answer_json(handler, 422, _error(*problem))
            return
        if limited:
            error = _error("90103", "Dials per second limit reached")
            answer_json(handler, 429, error, {"x-ratelimit-reset": "1"})
            return
        command = dial.get("command_id")
        with self.lock:
            earlier = self.commands.get(command) if command else None
            if earlier and time.monotonic() - earlier[0] < 60:
                self.duplicates[to] += 1
                answer_json(handler, 200, {"data": earlier[1].data()})
                return
            call = Call(dial=dial, created=time.monotonic())
            if command:
                self.commands[command] = (call.created, call)
            drop = to in self.drop_after_dial
            self.drop_after_dial.discard(to)
            if drop:
                self.dropped.add(to)
            self.calls.append(call)
            self._count(call, 1)
        if drop and to == self.list_fails_from:
            self._fail_listing_after_earlier_drops()
        threading.Thread(target=self._live, args=(call,), daemon=True).start()
        if drop:
            handler.close_connection = True
            return  # the call exists; its answer is lost (the connection closes unanswered)
        answer_json(handler, 200, {"data": call.data()})

    def _fail_listing_after_earlier_drops(self) -> None:
        """Make the list fail, once every earlier dropped call was listed (so that only
        the reconciliation of :attr:`list_fails_from` meets the failure)."""
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            with self.lock:
                waiting = self.dropped - self.listed - {self.list_fails_from}
            if not waiting:
                break
            time.sleep(0.02)
        with self.lock:
            self.listing_fails = True

    # -- the call's life and its webhooks ------------------------------------------------
    def _live(self, call: Call) -> None:
        script = self.scripts.get(call.to, Script())
        amd = bool(call.dial.get("answering_machine_detection"))
        answered = script.cause in ANSWERED
        steps = ["call.initiated"]
        if answered:
            steps.append("call.answered")
            if amd:
                steps.append("call.machine.detection.ended")
        for event in steps:
            if self.closing.wait(self.step_s):
                return
            self._webhook(call, event, script)
        if script.hold:
            call.release.wait(60)
        if not call.by_command and self.closing.wait(self.step_s):
            return
        with self.lock:
            call.alive = False
            self._count(call, -1)
        self._webhook(call, "call.hangup", script)
        for event in script.replay:
            self._webhook(call, event, script)

    def _count(self, call: Call, delta: int) -> None:
        if call.to == self.list_fails_from:
            return
        self.open += delta
        self.peak = max(self.peak, self.open)
        self.open_from[call.from_] += delta
        self.peak_from[call.from_] = max(self.peak_from[call.from_], self.open_from[call.from_])

    def release(self, to: str) -> None:
        """End a held call (:attr:`Script.hold`)."""
        with self.lock:
            for call in self.calls:
                if call.to == to:
                    call.release.set()

    def event(self, call: Call, event_type: str, script: Script) -> dict[str, Any]:
        """The webhook body of one event, as Telnyx sends it (a repeat is the same
        event: same ``id``)."""
        if event_type in call.events:
            return call.events[event_type]
        payload: dict[str, Any] = {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "client_state": call.dial.get("client_state"),
            "connection_id": CONNECTION_ID,
            "from": call.from_,
            "to": call.to,
        }
        if event_type == "call.initiated":
            payload |= {"direction": "outgoing", "state": "bridging"}
            payload["start_time"] = call.started_at
        elif event_type == "call.answered":
            payload |= {"state": "answered", "start_time": call.started_at}
        elif event_type == "call.machine.detection.ended":
            nth = [c.call_control_id for c in self.calls_to(call.to)].index(call.call_control_id)
            payload["result"] = script.amd[min(nth, len(script.amd) - 1)]
        elif event_type == "call.hangup":
            payload |= {
                "hangup_cause": script.cause,
                "hangup_source": "caller"
                if call.by_command or script.cause == "originator_cancel"
                else "callee",
                "sip_hangup_cause": SIP_CODES.get(script.cause, "unspecified"),
                "start_time": call.started_at,
                "state": "hangup",
            }
        body = {
            "data": {
                "event_type": event_type,
                "id": str(uuid.uuid4()),
                "occurred_at": datetime.now(UTC).isoformat(),
                "payload": payload,
                "record_type": "event",
            },
            "meta": {"attempt": 1, "delivered_to": call.dial.get("webhook_url")},
        }
        call.events[event_type] = body
        return body

    def _webhook(self, call: Call, event_type: str, script: Script) -> None:
        url = str(call.dial.get("webhook_url", ""))
        body = json.dumps(self.event(call, event_type, script)).encode()
        target = self.api_base + url.removeprefix(PUBLIC_URL)
        try:
            answer = self.http.post(target, content=body, headers=sign(self.key, body))
            with self.lock:
                self.webhooks.append((call.call_control_id, event_type, answer.status_code))
            if answer.status_code != 200:
                self.errors.append(f"{event_type} {answer.status_code} {answer.text[:200]}")
        except httpx.HTTPError as exc:
            self.errors.append(repr(exc))


def _invalid(dial: dict[str, Any]) -> tuple[str, str, str] | None:
    """Why a Dial is refused (code, title, detail), or None."""
    for name in ("connection_id", "to", "from"):
        if not dial.get(name):
            return "10004", "Missing required parameter", f"{name} is required"
    if dial["connection_id"] != CONNECTION_ID:
        return "10005", "Resource not found", "no such connection"
    for name in ("to", "from"):
        if not _E164.match(str(dial[name])):
            return "10016", "Phone number must be in +E.164 format", name
    state = dial.get("client_state")
    if state is not None:
        try:
            base64.b64decode(str(state), validate=True)
        except (binascii.Error, ValueError):
            return "10015", "Bad Request", "client_state must be a valid Base-64 string"
    return None


def _error(code: str, title: str, detail: str = "") -> dict[str, Any]:
    return {"errors": [{"code": code, "title": title, "detail": detail or title}]}


def serve(stand_in: TelnyxStandIn) -> AbstractContextManager[str]:
    """Serve ``stand_in`` on a free loopback port; yields its API base."""
    return serve_stand_in(stand_in)
