"""A stand-in for Twilio's REST API and its status callbacks, built from Twilio's public
reference (twilio.com/docs/voice/api/call-resource; twilio.com/docs/usage/webhooks/
webhooks-security), for the twilio dialer's tests.

- ``POST /2010-04-01/Accounts/{Sid}/Calls.json``: HTTP Basic ``AccountSid:AuthToken``
  checked (401, code 20003), the form parsed (``StatusCallbackEvent`` once per value),
  ``To``/``From`` required (400, code 21201 / 21212), a 201 JSON Call resource (``sid``
  ``CA`` + 32 hex digits, ``status`` ``queued``); errors in Twilio's JSON shape
  ``{"code", "message", "more_info", "status"}``; 429 with code 20429 when told to.
- ``GET …/Calls.json?To=&From=``: the account's calls, newest first, in a page.
- Each call then lives through its :class:`Script`: status callbacks (``initiated``,
  ``ringing``, ``answered`` as ``in-progress``, the end) POSTed form-encoded to the
  ``StatusCallback`` URL, signed as Twilio signs them (:func:`twilio_signature`).
  Twilio reaches the API at its public URL; here the callbacks go to the API's real
  address with the signature over the public URL, as through a proxy.

It measures calls open at once (from create to the end) overall and per ``From``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.loopback import CallLog, answer_json, serve_stand_in

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "stand-in-auth-token-0123456789ab"
PUBLIC_URL = "https://dialer.example.test"


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """How Twilio signs a form POST (webhooks-security): base64 HMAC-SHA1 keyed by the
    auth token, of the full URL followed by each parameter's name and value, sorted by
    name. Written here from the reference, independently of batchdial's verifier."""
    text = url
    for name in sorted(params):
        text += name + params[name]
    mac = hmac.new(auth_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


@dataclass
class Script:
    """How one call goes: the statuses it passes through and how it ends."""

    #: The final ``CallStatus``.
    end: str = "completed"
    #: ``AnsweredBy`` reported when machine detection is on, one per call to the number
    #: in order (``human``, ``machine_start``…; the last one stays).
    answered_by: tuple[str, ...] = ("human",)
    #: Callbacks sent again after the end (out of order / repeated): these statuses.
    replay: tuple[str, ...] = ()
    #: Hold the call ringing until :meth:`TwilioStandIn.release` is called.
    hold: bool = False


@dataclass
class Call:
    """A call the stand-in created."""

    sid: str
    form: dict[str, list[str]]
    created: float
    date_created: str
    status: str = "queued"
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def to(self) -> str:
        return self.form["To"][0]

    @property
    def from_(self) -> str:
        return self.form["From"][0]

    def one(self, name: str) -> str:
        return self.form.get(name, [""])[0]

    def resource(self) -> dict[str, Any]:
        """The Call resource as Twilio answers it (a subset of its fields)."""
        return {
            "sid": self.sid,
            "account_sid": ACCOUNT_SID,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": self.date_created,
            "date_updated": self.date_created,
            "start_time": None,
            "end_time": None,
            "answered_by": None,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{self.sid}.json",
        }


class TwilioStandIn(CallLog[Call]):
    """The stand-in's state, behaviour and measurements."""

    def __init__(self, scripts: dict[str, Script], step_s: float = 0.15) -> None:
        self.scripts = scripts
        self.step_s = step_s
        self.api_base = ""  # where the API really listens (set by the test)
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.creates: Counter[str] = Counter()  # create requests per To (answered or not)
        self.rate_limited: Counter[str] = Counter()
        #: Answer this many creates (of any number) with 429 / 20429 first.
        self.rate_limit_first = 0
        #: Numbers whose first create makes the call, then drops the connection unanswered.
        self.drop_after_create: set[str] = set()
        #: Numbers whose calls list answers 500 (reconciliation cannot know). Their calls
        #: are not counted as open: batchdial gave up their slot, not knowing of them.
        self.list_fails: set[str] = set()
        self.open = 0
        self.peak = 0
        self.open_from: Counter[str] = Counter()
        self.peak_from: Counter[str] = Counter()
        self.callbacks: list[tuple[str, str, int]] = []  # (sid, CallStatus, HTTP status)
        self.errors: list[str] = []
        self.closing = threading.Event()
        self.http = httpx.Client(timeout=10)

    # -- the REST API ------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(handler.path).path
        if path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json":
            answer_json(handler, 404, _error(20404, "The requested resource was not found", 404))
            return
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {expected}":
            answer_json(handler, 401, _error(20003, "Authenticate", 401))
            return
        if method == "GET":
            self._list(handler)
        else:
            self._create(handler)

    def _list(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        to, from_ = query.get("To", [None])[0], query.get("From", [None])[0]
        if to in self.list_fails:
            answer_json(handler, 500, _error(20500, "Internal Server Error", 500))
            return
        with self.lock:
            found = [
                c.resource()
                for c in reversed(self.calls)
                if (to is None or c.to == to) and (from_ is None or c.from_ == from_)
            ]
        size = int(query.get("PageSize", ["50"])[0])
        answer_json(
            handler,
            200,
            {"calls": found[:size], "page": 0, "page_size": size, "next_page_uri": None},
        )

    def _create(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        form = parse_qs(handler.rfile.read(length).decode(), keep_blank_values=True)
        to = form.get("To", [""])[0]
        with self.lock:
            self.creates[to] += 1
            limited = self.rate_limit_first > 0
            if limited:
                self.rate_limit_first -= 1
                self.rate_limited[to] += 1
        if not to:
            answer_json(handler, 400, _error(21201, "No 'To' number is specified", 400))
            return
        if not form.get("From", [""])[0]:
            answer_json(handler, 400, _error(21212, "Invalid From Number (caller ID)", 400))
            return
        if limited:
            answer_json(handler, 429, _error(20429, "Too Many Requests", 429))
            return
        now = datetime.now(UTC)
        call = Call(
            sid="CA" + secrets.token_hex(16),
            form=form,
            created=time.monotonic(),
            date_created=format_datetime(now.replace(microsecond=0), usegmt=False),
        )
        with self.lock:
            self.calls.append(call)
            self._count(call, 1)
            drop = to in self.drop_after_create
            self.drop_after_create.discard(to)
        threading.Thread(target=self._live, args=(call,), daemon=True).start()
        if drop:
            handler.close_connection = True
            return  # the call exists; its answer is lost (the connection closes unanswered)
        answer_json(handler, 201, call.resource())

    # -- the call's life and its callbacks -----------------------------------------------
    def _live(self, call: Call) -> None:
        script = self.scripts.get(call.to, Script())
        events = set(call.form.get("StatusCallbackEvent", []))
        amd = bool(call.one("MachineDetection"))
        steps: list[tuple[str, str]] = [("initiated", "initiated"), ("ringing", "ringing")]
        if script.end == "completed":
            steps.append(("answered", "in-progress"))
        sequence = 0
        for event, status in steps:
            if self.closing.wait(self.step_s):
                return
            call.status = status
            if event in events:
                self._callback(call, status, sequence, amd and event == "answered", script)
                sequence += 1
        if script.hold:
            call.release.wait(60)
        self.closing.wait(self.step_s)
        call.status = script.end
        with self.lock:
            self._count(call, -1)
        if "completed" in events:  # Twilio sends every final status for this event
            self._callback(call, script.end, sequence, amd and script.end == "completed", script)
            sequence += 1
        for status in script.replay:
            self._callback(call, status, sequence, False, script)
            sequence += 1

    def _count(self, call: Call, delta: int) -> None:
        if call.to in self.list_fails:
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

    def callback_params(
        self, call: Call, status: str, sequence: int, answered: bool, script: Script
    ) -> dict[str, str]:
        """The form of one status callback, as Twilio sends it."""
        params = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": status,
            "From": call.from_,
            "To": call.to,
            "Direction": "outbound-api",
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
        }
        if status in ("completed", "busy", "no-answer", "failed", "canceled"):
            params["CallDuration"] = "3" if status == "completed" else "0"
        if answered:
            nth = [c.sid for c in self.calls_to(call.to)].index(call.sid)
            params["AnsweredBy"] = script.answered_by[min(nth, len(script.answered_by) - 1)]
        return params

    def _callback(
        self, call: Call, status: str, sequence: int, answered: bool, script: Script
    ) -> None:
        url = call.one("StatusCallback")
        params = self.callback_params(call, status, sequence, answered, script)
        signed = twilio_signature(AUTH_TOKEN, url, params)
        target = self.api_base + url.removeprefix(PUBLIC_URL)
        try:
            answer = self.http.post(target, data=params, headers={"X-Twilio-Signature": signed})
            with self.lock:
                self.callbacks.append((call.sid, status, answer.status_code))
            if answer.status_code != 200:
                self.errors.append(f"{status} {answer.status_code} {answer.text[:200]}")
        except httpx.HTTPError as exc:
            self.errors.append(repr(exc))


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def serve(stand_in: TwilioStandIn) -> AbstractContextManager[str]:
    """Serve ``stand_in`` on a free loopback port; yields its API base."""
    return serve_stand_in(stand_in)
