"""A stand-in for a LiveKit server (its Twirp server API, a SIP service, an agent worker)
and its webhooks, built from LiveKit's public reference (docs.livekit.io: "Server APIs",
"Making outbound calls", "Agent dispatch", "Webhooks") and its protocol
(github.com/livekit/protocol: the protos, auth/, webhook/), for the livekit dialer's tests.

- ``POST /twirp/livekit.<Service>/<Method>``, JSON: ``RoomService.CreateRoom``,
  ``DeleteRoom``, ``ListParticipants``; ``AgentDispatchService.CreateDispatch``,
  ``ListDispatch``; ``SIP.CreateSIPParticipant``. Each checks ``Authorization: Bearer``
  with the SDK's own ``TokenVerifier`` (signature, issuer, expiry) and the grants the
  server checks (pkg/service/auth.go: ``roomCreate``; ``roomAdmin`` for the request's
  room; ``sip.call``), and the request's fields (an unknown field is refused, so that a
  misspelt one fails here instead of being ignored). Answers are JSON with the proto
  field names and every field, as LiveKit's Twirp server writes them; errors are Twirp
  errors ``{"code", "msg", "meta"}`` with Twirp's HTTP statuses.
- A SIP call lives through its :class:`Script`: the callee joins the room at once
  (``sip.callStatus`` ``dialing``), rings, then answers (``CreateSIPParticipant``'s
  answer comes then: ``wait_until_answered``) and hangs up, or fails with a SIP status
  (in the error's ``meta``, with the Twirp code LiveKit derives from it), or times out
  ringing. The callee leaves with the ``disconnect_reason`` LiveKit's SIP service gives
  that ending (livekit/sip pkg/sip/errors.go).
- Webhooks (``participant_joined``/``participant_left`` of the agent and the callee,
  ``room_finished``) go to the API, one ordered queue per room as LiveKit's notifier
  keeps them, JSON as protojson writes a ``WebhookEvent`` (``Content-Type:
  application/webhook+json``), signed as webhook/url_notifier.go signs them
  (:func:`webhook_token`); a 5xx answer is sent again after ``Retry-After``, as its
  retrying HTTP client does.

It measures SIP calls open at once (from the callee's join to its leaving), overall and
per ``sip_number`` (the caller ID).
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

import httpx
import jwt
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.api import TokenVerifier
from livekit.protocol import models, webhook
from livekit.protocol.room import ListParticipantsResponse

from tests.support.livekit_sip import Answer, Script, answer_of, ending_of
from tests.support.loopback import CallLog, answer_json, serve_http

API_KEY = "APIstandin0123"
API_SECRET = "stand-in-api-secret-0123456789abcdef0123"
TRUNK_ID = "ST_standin0001"
PUBLIC_URL = "https://dialer.example.test"
WEBHOOK_PATH = "/api/providers/livekit/webhook"
#: Twirp's HTTP status of each error code (twitchtv.github.io/twirp, "Error codes").
TWIRP_STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "internal": 500,
    "unavailable": 503,
}
#: The request fields each method knows (proto names; their JSON names are accepted too).
FIELDS = {
    "CreateRoom": {"name", "empty_timeout", "departure_timeout", "metadata", "max_participants"},
    "DeleteRoom": {"room"},
    "ListParticipants": {"room"},
    "CreateDispatch": {"agent_name", "room", "metadata"},
    "ListDispatch": {"room", "dispatch_id"},
    "CreateSIPParticipant": {
        "sip_trunk_id",
        "sip_call_to",
        "sip_number",
        "room_name",
        "participant_identity",
        "participant_name",
        "participant_metadata",
        "participant_attributes",
        "wait_until_answered",
        "ringing_timeout",
        "max_call_duration",
    },
}
SIP_STATES = ("dialing", "ringing", "active", "hangup")


def webhook_token(
    body: bytes,
    *,
    api_key: str = API_KEY,
    secret: str = API_SECRET,
    now: float | None = None,
    valid_s: int = 300,
    sha256: str | None = None,
) -> str:
    """The ``Authorization`` of a webhook as LiveKit makes it (url_notifier.go: an access
    token valid 5 minutes, ``SetSha256`` of the body's base64 SHA-256; ToJWT: HS256,
    ``iss`` the API key, ``iat``/``nbf`` now). Written from the reference, independently
    of batchdial's verifier."""
    issued = int(time.time() if now is None else now)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    claims = {
        "iss": api_key,
        "iat": issued,
        "nbf": issued,
        "exp": issued + valid_s,
        "sha256": digest if sha256 is None else sha256,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _json_of(message: Message, proto_names: bool) -> dict[str, Any]:
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=proto_names,
        always_print_fields_with_no_presence=proto_names,
    )


@dataclass
class Participant:
    """Someone in a room: the agent or a SIP callee."""

    info: models.ParticipantInfo
    sip_number: str = ""
    to: str = ""


@dataclass
class Room:
    """A room the stand-in holds."""

    name: str
    sid: str
    metadata: str
    participants: dict[str, Participant] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False


@dataclass
class Call:
    """A SIP call: CreateSIPParticipant's request and what became of it."""

    body: dict[str, Any]
    script: Script
    participant: Participant
    answer: queue.Queue[Answer | None] = field(default_factory=queue.Queue)
    release: threading.Event = field(default_factory=threading.Event)
    gone: threading.Event = field(default_factory=threading.Event)
    state: str = "dialing"

    @property
    def room(self) -> str:
        return str(self.body["room_name"])

    @property
    def to(self) -> str:
        return str(self.body["sip_call_to"])


class LiveKitStandIn(CallLog[Call]):
    """The stand-in's state, behaviour and measurements."""

    def __init__(self, scripts: dict[str, Script], step_s: float = 0.15) -> None:
        self.scripts = scripts
        self.step_s = step_s
        self.api_base = ""  # where the API really listens (set by the test)
        self.lock = threading.Lock()
        self.rooms: dict[str, Room] = {}
        self.calls: list[Call] = []
        self.dispatches: list[dict[str, Any]] = []
        self.requests: Counter[str] = Counter()  # per method, answered or not
        self.sip_requests: Counter[str] = Counter()  # CreateSIPParticipant per sip_call_to
        self.rate_limited: Counter[str] = Counter()
        #: Answer this many CreateSIPParticipant requests (of any number) with 429 first.
        self.rate_limit_first = 0
        #: Rooms whose ListParticipants answers 500 (reconciliation cannot know).
        self.list_fails: set[str] = set()
        self.open = 0
        self.peak = 0
        self.open_from: Counter[str] = Counter()
        self.peak_from: Counter[str] = Counter()
        #: (room, event, identity, final HTTP status, attempts) of every webhook sent.
        self.webhooks: list[tuple[str, str, str, int, int]] = []
        self.pending = 0  # webhooks not yet delivered
        self.errors: list[str] = []
        self.verifier = TokenVerifier(API_KEY, API_SECRET)
        self.closing = threading.Event()
        self.http = httpx.Client(timeout=10)
        self._queues: dict[str, queue.Queue[Any]] = {}

    # -- the Twirp API -----------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        service, _, method = handler.path.removeprefix("/twirp/livekit.").partition("/")
        known = {
            "RoomService": ("CreateRoom", "DeleteRoom", "ListParticipants"),
            "AgentDispatchService": ("CreateDispatch", "ListDispatch"),
            "SIP": ("CreateSIPParticipant",),
        }
        if not handler.path.startswith("/twirp/livekit.") or method not in known.get(service, ()):
            _twirp_error(handler, "bad_route", f"no handler for path {handler.path}")
            return
        length = int(handler.headers.get("content-length", "0"))
        raw = handler.rfile.read(length)
        with self.lock:
            self.requests[method] += 1
        if not handler.headers.get("content-type", "").startswith("application/json"):
            _twirp_error(handler, "malformed", "this stand-in speaks JSON only")
            return
        try:
            body = self._fields(method, json.loads(raw))
        except (ValueError, TypeError) as exc:
            _twirp_error(handler, "malformed", f"bad {method} body: {exc}")
            return
        problem = self._authorize(handler.headers.get("Authorization", ""), method, body)
        if problem:
            _twirp_error(handler, *problem)
            return
        serve_method = {
            "CreateRoom": self._create_room,
            "DeleteRoom": self._delete_room,
            "ListParticipants": self._list_participants,
            "CreateDispatch": self._create_dispatch,
            "ListDispatch": self._list_dispatch,
            "CreateSIPParticipant": self._create_sip_participant,
        }[method]
        serve_method(handler, body)

    @staticmethod
    def _fields(method: str, data: object) -> dict[str, Any]:
        """The body with proto field names; an unknown field is an error."""
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        out: dict[str, Any] = {}
        for name, value in data.items():
            proto = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
            if proto not in FIELDS[method]:
                raise ValueError(f"unknown field {name!r}")
            out[proto] = value
        return out

    def _authorize(self, header: str, method: str, body: dict[str, Any]) -> tuple[str, str] | None:
        """Why the token does not allow ``method`` on this body (None: it does)."""
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or not token:
            return "unauthenticated", "no authorization header"
        try:
            claims = self.verifier.verify(token)
        except Exception as exc:  # the SDK's verifier raises PyJWT's errors
            return "unauthenticated", f"invalid token: {type(exc).__name__}"
        video, sip = claims.video, claims.sip
        if method in ("CreateRoom", "DeleteRoom"):
            allowed = bool(video and video.room_create)
        elif method == "CreateSIPParticipant":
            allowed = bool(sip and sip.call)
        else:
            room = body.get("room", "")
            allowed = bool(video and video.room_admin and video.room == room)
        return None if allowed else ("permission_denied", "permissions denied")

    def _create_room(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            _twirp_error(handler, "invalid_argument", "room name is required")
            return
        with self.lock:
            room = self.rooms.get(name)
            if room is None or room.closed:  # a deleted room is gone: a new one is made
                room = Room(name, "RM_" + secrets.token_hex(6), str(body.get("metadata", "")))
                self.rooms[name] = room
                self._queues[name] = self._sender(name)
        answer_json(
            handler,
            200,
            _json_of(models.Room(sid=room.sid, name=name, metadata=room.metadata), True),
        )

    def _delete_room(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self.lock:
            room = self.rooms.get(str(body.get("room")))
        if room is None or room.closed:
            _twirp_error(handler, "not_found", "requested room does not exist")
            return
        self.close_room(room, "ROOM_DELETED")
        answer_json(handler, 200, {})

    def _list_participants(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        name = str(body["room"])
        if name in self.list_fails:
            _twirp_error(handler, "internal", "stand-in: listing fails")
            return
        with self.lock:
            room = self.rooms.get(name)
            infos = [p.info for p in room.participants.values()] if room else []
        if room is None or room.closed:
            _twirp_error(handler, "not_found", "requested room does not exist")
            return
        answer_json(handler, 200, _json_of(ListParticipantsResponse(participants=infos), True))

    def _create_dispatch(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self.lock:
            room = self.rooms.get(str(body.get("room")))
        if room is None or not body.get("agent_name"):
            _twirp_error(handler, "invalid_argument", "agent_name and an existing room needed")
            return
        dispatch = {
            "id": "AD_" + secrets.token_hex(6),
            "agent_name": body["agent_name"],
            "room": room.name,
            "metadata": body.get("metadata", ""),
        }
        with self.lock:
            room.dispatches.append(dispatch)
            self.dispatches.append(dispatch)
        # The agent worker registered with that agent_name takes the job and joins.
        agent = models.ParticipantInfo(
            sid="PA_" + secrets.token_hex(6),
            identity="agent-AJ_" + secrets.token_hex(4),
            kind=models.ParticipantInfo.Kind.AGENT,
            state=models.ParticipantInfo.State.ACTIVE,
            joined_at=int(time.time()),
        )
        self._join(room, Participant(agent))
        answer_json(handler, 200, dispatch)

    def _list_dispatch(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self.lock:
            room = self.rooms.get(str(body.get("room")))
            found = list(room.dispatches) if room else []
        answer_json(handler, 200, {"agent_dispatches": found})

    def _create_sip_participant(
        self, handler: BaseHTTPRequestHandler, body: dict[str, Any]
    ) -> None:
        to = str(body.get("sip_call_to", ""))
        with self.lock:
            self.sip_requests[to] += 1
            limited = self.rate_limit_first > 0
            if limited:
                self.rate_limit_first -= 1
                self.rate_limited[to] += 1
            room = self.rooms.get(str(body.get("room_name")))
        if limited:
            _twirp_error(handler, "resource_exhausted", "rate limit exceeded")
            return
        problem = _sip_problem(body, room)
        if problem:
            _twirp_error(handler, *problem)
            return
        assert room is not None
        info = models.ParticipantInfo(
            sid="PA_" + secrets.token_hex(6),
            identity=body["participant_identity"],
            kind=models.ParticipantInfo.Kind.SIP,
            state=models.ParticipantInfo.State.ACTIVE,
            joined_at=int(time.time()),
            attributes={
                **body.get("participant_attributes", {}),
                "sip.callStatus": "dialing",
                "sip.phoneNumber": to,
                "sip.trunkPhoneNumber": str(body.get("sip_number", "")),
                "sip.callID": "SCL_" + secrets.token_hex(6),
            },
        )
        call = Call(
            body, self.scripts.get(to, Script()), Participant(info, body.get("sip_number", ""), to)
        )
        with self.lock:
            self.calls.append(call)
        self._join(room, call.participant)
        threading.Thread(target=self._live, args=(call, room), daemon=True).start()
        answer = call.answer.get(timeout=120)
        if answer is None:  # the answer is lost: the connection closes unanswered
            handler.close_connection = True
            return
        answer_json(handler, answer.status, answer.body)

    # -- a call's life -------------------------------------------------------------------
    def _live(self, call: Call, room: Room) -> None:
        script = call.script
        if self._wait(call, self.step_s):
            return
        self._set_state(call, "ringing")
        if script.drop == "ringing":
            call.answer.put(None)
        if self._wait(call, self.step_s if script.ring_s is None else script.ring_s):
            return
        if script.outcome != "answer":
            # LiveKit closes the call (the callee leaves), then CreateSIPParticipant fails.
            self._leave(room, call.participant, ending_of(script))
            call.answer.put(answer_of(script))
            self._replay(room, call)
            self._depart(room)
            return
        self._set_state(call, "active")
        sip_call = call.participant.info.attributes["sip.callID"]
        info = {
            "participant_id": call.participant.info.sid,
            "participant_identity": call.participant.info.identity,
            "room_name": room.name,
            "sip_call_id": sip_call,
        }
        call.answer.put(None if script.drop == "answered" else Answer(200, info))
        if script.hold:
            while not call.release.wait(0.05):
                if call.gone.is_set() or self.closing.is_set():
                    return
        elif self._wait(call, 2 * self.step_s if script.talk_s is None else script.talk_s):
            return
        self._leave(room, call.participant, "CLIENT_INITIATED")
        self._replay(room, call)
        self._depart(room)

    def _depart(self, room: Room) -> None:
        """The callee left: the agent's session ends, and LiveKit closes the room after
        its departure timeout (unless batchdial deleted it first)."""
        if not self.closing.wait(self.step_s):
            self.close_room(room, "CLIENT_INITIATED")

    def _wait(self, call: Call, seconds: float) -> bool:
        """Wait; True when the call ended meanwhile (its room was deleted) or we stop."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if call.gone.is_set() or self.closing.wait(0.02):
                return True
        return call.gone.is_set()

    def _set_state(self, call: Call, state: str) -> None:
        with self.lock:
            call.state = state
            call.participant.info.attributes["sip.callStatus"] = state

    def _replay(self, room: Room, call: Call) -> None:
        """Webhooks sent again after the end (a notifier retrying what was delivered)."""
        for event in call.script.replay:
            info = models.ParticipantInfo()
            info.CopyFrom(call.participant.info)
            if event == "participant_joined":
                info.attributes["sip.callStatus"] = "dialing"
                info.disconnect_reason = models.DisconnectReason.UNKNOWN_REASON
            self._notify(room, event, info)

    def release(self, to: str) -> None:
        """End a held call (:attr:`Script.hold`)."""
        for call in self.calls_to(to):
            call.release.set()

    # -- rooms and participants ------------------------------------------------------------
    def _join(self, room: Room, participant: Participant) -> None:
        with self.lock:
            room.participants[participant.info.identity] = participant
            if participant.info.kind == models.ParticipantInfo.Kind.SIP:
                self._count(participant, 1)
        self._notify(room, "participant_joined", participant.info)

    def _leave(self, room: Room, participant: Participant, reason: str) -> None:
        with self.lock:
            if room.participants.pop(participant.info.identity, None) is None:
                return
            if participant.info.kind == models.ParticipantInfo.Kind.SIP:
                self._count(participant, -1)
                participant.info.attributes["sip.callStatus"] = "hangup"
            participant.info.disconnect_reason = cast(
                models.DisconnectReason, models.DisconnectReason.Value(reason)
            )
        for call in self.calls:
            if call.participant is participant:
                call.gone.set()
        self._notify(room, "participant_left", participant.info)

    def close_room(self, room: Room, reason: str) -> None:
        """Close ``room``: everyone in it leaves, then ``room_finished``."""
        with self.lock:
            if room.closed:
                return
            room.closed = True
            present = list(room.participants.values())
        for participant in present:
            self._leave(room, participant, reason)
        self._notify(room, "room_finished", None)
        self._queues[room.name].put(None)

    def _count(self, participant: Participant, delta: int) -> None:
        self.open += delta
        self.peak = max(self.peak, self.open)
        number = participant.sip_number
        self.open_from[number] += delta
        self.peak_from[number] = max(self.peak_from[number], self.open_from[number])

    # -- webhooks ----------------------------------------------------------------------
    def event(self, room: Room, kind: str, info: models.ParticipantInfo | None) -> bytes:
        """The body of one webhook, as LiveKit's notifier writes it (protojson)."""
        message = webhook.WebhookEvent(
            event=kind,
            room=models.Room(sid=room.sid, name=room.name, metadata=room.metadata),
            id="EV_" + secrets.token_hex(6),
            created_at=int(time.time()),
        )
        if info is not None:
            message.participant.CopyFrom(info)
        return json_format.MessageToJson(message, indent=None).encode()

    def _notify(self, room: Room, kind: str, info: models.ParticipantInfo | None) -> None:
        body = self.event(room, kind, info)
        with self.lock:
            self.pending += 1
        self._queues[room.name].put((kind, info.identity if info else "", body))

    def _sender(self, room: str) -> queue.Queue[Any]:
        """One ordered queue of webhooks per room, sent by a thread of its own."""
        outbox: queue.Queue[Any] = queue.Queue()

        def run() -> None:
            while (item := outbox.get()) is not None:
                self._deliver(room, *item)

        threading.Thread(target=run, daemon=True).start()
        return outbox

    def _deliver(self, room: str, kind: str, identity: str, body: bytes) -> None:
        status, attempts = 0, 0
        while attempts < 6 and not self.closing.is_set():
            attempts += 1
            headers = {
                "Authorization": webhook_token(body),
                "Content-Type": "application/webhook+json",
                "User-Agent": "LiveKit",
            }
            try:
                answer = self.http.post(self.api_base + WEBHOOK_PATH, content=body, headers=headers)
            except httpx.HTTPError as exc:
                self.errors.append(f"{kind} {room}: {exc!r}")
                break
            status = answer.status_code
            if status < 500:
                break
            self.closing.wait(min(float(answer.headers.get("Retry-After", "0.2")), 1.0))
        with self.lock:
            self.webhooks.append((room, kind, identity, status, attempts))
            self.pending -= 1
        if status != 200:
            self.errors.append(f"{kind} {room} {identity}: {status}")

    # -- measurements ----------------------------------------------------------------------
    def settled(self) -> bool:
        """Whether every room has closed and every webhook has been delivered."""
        with self.lock:
            return self.pending == 0 and all(room.closed for room in self.rooms.values())


def _sip_problem(body: dict[str, Any], room: Room | None) -> tuple[str, str] | None:
    """What is wrong with a CreateSIPParticipant request (None: nothing)."""
    problems: list[tuple[str, str]] = []
    if body.get("sip_trunk_id") != TRUNK_ID:
        problems.append(("not_found", "requested sip trunk does not exist"))
    for name in ("sip_call_to", "sip_number", "room_name", "participant_identity"):
        if not isinstance(body.get(name), str) or not body[name]:
            problems.append(("invalid_argument", f"{name} is required"))
    if room is None or room.closed:
        problems.append(("not_found", "the room does not exist (create it first)"))
    if body.get("wait_until_answered") is not True:
        problems.append(("invalid_argument", "this stand-in answers wait_until_answered only"))
    for name in ("ringing_timeout", "max_call_duration"):
        value = body.get(name)
        if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)?s", value):
            problems.append(("invalid_argument", f'{name}: a Duration in JSON ("30s")'))
    if not isinstance(body.get("participant_attributes", {}), dict):
        problems.append(("invalid_argument", "participant_attributes: a map"))
    return problems[0] if problems else None


def _twirp_error(
    handler: BaseHTTPRequestHandler, code: str, msg: str, meta: dict[str, str] | None = None
) -> None:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if meta:
        body["meta"] = meta
    answer_json(handler, TWIRP_STATUS[code], body)


@contextmanager
def serve(stand_in: LiveKitStandIn) -> Iterator[str]:
    """Serve ``stand_in`` on a free loopback port; yields its URL."""

    def handle(handler: BaseHTTPRequestHandler, method: str) -> None:
        if method != "POST":  # Twirp is POST only
            answer_json(handler, 405, {"code": "bad_route", "msg": "POST only"})
            return
        stand_in.handle(handler)

    with serve_http(handle) as base:
        try:
            yield base
        finally:
            stand_in.closing.set()
            for call in stand_in.calls:
                call.release.set()
                call.answer.put(None)
            for outbox in stand_in._queues.values():
                outbox.put(None)
            stand_in.http.close()
