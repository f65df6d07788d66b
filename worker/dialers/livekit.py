"""The livekit dialer: places each dial as a LiveKit SIP call (SPEC §8.1), with the agent
dispatched into a room of its own.

Per dial, over LiveKit's Twirp API (worker/dialers/livekit_twirp.py), following
docs.livekit.io "Making outbound calls" and "Agent dispatch":

1. ``RoomService.CreateRoom``: the room ``batchdial-<dialId>`` (domain/livekit_calls.py),
   its metadata ``{"dialId"}``. Creating an existing room returns it: safe to repeat.
2. ``AgentDispatchService.CreateDispatch``: ``agent_name`` = the job's ``callAgentId``,
   ``metadata`` = JSON ``{"dialId", "inputs"}``: the agent's job metadata.
3. ``SIP.CreateSIPParticipant``: ``sip_trunk_id`` (BATCHDIAL_LIVEKIT_SIP_TRUNK_ID),
   ``sip_call_to`` (the row's number), ``sip_number`` (the pool number: the caller ID),
   ``room_name``, ``participant_identity`` ``callee-<dialId>``, ``wait_until_answered``,
   ``ringing_timeout``, ``max_call_duration`` (BATCHDIAL_MAX_CALL_SECONDS, so LiveKit hangs
   up where batchdial gives up). The answer comes when the callee picks up (the call is
   handed to LiveKit: its end comes by webhook) or as an error carrying the SIP status,
   mapped by the one table of domain/livekit_calls.py.

It speaks Twirp JSON over ``httpx.AsyncClient`` rather than through the ``livekit-api``
SDK. The SDK is asyncio (aiohttp) and would run on the engine's loop, but its client
replays a request on another LiveKit Cloud region after a transport error or a 5xx
(``_failover.py``), which for CreateSIPParticipant can mean a second call; it sends
protobuf, which would bring aiohttp, protobuf and livekit-protocol into the worker for
three JSON requests; and the one thing to learn from an error, its SIP status, is plain
JSON in the Twirp error's ``meta``. httpx is already the worker's client (the twilio
dialer), with the same tested split between "never sent" and "answer lost".

Never two calls: CreateSIPParticipant has no idempotency key, so it is sent again only
when that cannot make a second call: a request that never left (connection refused),
or a Twirp error LiveKit gives only before sending the INVITE (``unavailable``,
``internal``: its SIP service turns any later failure into ``failed_precondition``) and
after ``ListParticipants`` showed no callee in the room. When the answer is lost (a
timeout, a dropped connection, a 5xx from a proxy) the room is listed: the callee found
there is the call, adopted; not found, or the list failing, ends the dial ``failed``
with ``reason: placement_unknown`` (never retried): LiveKit keeps no record of a call
that already ended, so "not there" may mean "rang and was rejected". A rate limit (Twirp
``resource_exhausted`` or 429 without a SIP status, or a trunk's "CPS limit exceeded")
places no call: the row goes back to its job (``Placed.retry_in_s``).

Rooms: a dial whose call never connected (refused, failed, put back, unknown) has its
room deleted at once, so that the agent dispatched into it leaves (and a call that may
exist, unknown to batchdial, is hung up). A connected call's room is left to LiveKit,
which closes it once its participants have left, so that the agent can finish its work.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import structlog

from domain.livekit_calls import (
    CALL_STATUS_ATTRIBUTE,
    CARRIER,
    CHECK,
    PUT_BACK,
    STATUS_TABLE,
    UNKNOWN,
    live_status_of,
    outcome_of_error,
    participant_identity,
    room_name,
    sip_code_of,
)
from worker.dialers.base import DialRequest, OnEnd, Placed
from worker.dialers.livekit_twirp import Reply, Twirp
from worker.metrics import PROVIDER_ERRORS, PROVIDER_RETRIES

log = structlog.get_logger(__name__)

ROOMS, DISPATCH, SIP = "RoomService", "AgentDispatchService", "SIP"
#: The callee's attribute naming its dial (what the agent can read in the room).
DIAL_ATTRIBUTE = "batchdial.dialId"
#: Seconds before each resend of a request that surely did not reach LiveKit.
DEFAULT_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
#: Seconds a rate-limited row waits before it is dialed again (plus up to half again,
#: at random, so that rows refused together do not come back together).
RATE_LIMIT_WAIT_S = 1.0
#: Seconds to wait after a lost answer before listing the room: a callee LiveKit is
#: still adding should be there by then.
RECONCILE_DELAY_S = 1.0
#: LiveKit's default ringing timeout (livekit-api's ``_dial_timeout.py``: the server's).
RINGING_TIMEOUT_S = 30.0


class LiveKitDialer:
    """Places calls as LiveKit SIP participants, an agent dispatched to each room."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        sip_trunk_id: str,
        ringing_timeout_s: float = RINGING_TIMEOUT_S,
        max_call_s: float = 3600.0,
        timeout_s: float = 10.0,
        backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S,
        rate_limit_wait_s: float = RATE_LIMIT_WAIT_S,
        reconcile_delay_s: float = RECONCILE_DELAY_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.twirp = Twirp(
            url, api_key, api_secret, timeout_s=timeout_s, clock=clock, client=client
        )
        self._trunk = sip_trunk_id
        self._ringing_s = ringing_timeout_s
        self._max_call_s = max_call_s
        self._timeout_s = timeout_s
        self._backoff = backoff_s
        self._rate_limit_wait_s = rate_limit_wait_s
        self._reconcile_delay_s = reconcile_delay_s
        self._sleep = sleep

    def place(self, request: DialRequest, on_end: OnEnd) -> Coroutine[Any, Any, Placed]:
        """A coroutine that places the call (run it on the event loop)."""
        return self._place(request)

    # -- the three requests ------------------------------------------------------------
    def room_request(self, request: DialRequest) -> dict[str, Any]:
        """The body of ``CreateRoom``."""
        return {
            "name": room_name(request.dial_id),
            "metadata": _compact({"dialId": request.dial_id}),
        }

    def dispatch_request(self, request: DialRequest) -> dict[str, Any]:
        """The body of ``CreateDispatch``: what the agent receives as its job metadata."""
        return {
            "agentName": request.call_agent_id,
            "room": room_name(request.dial_id),
            "metadata": _compact({"dialId": request.dial_id, "inputs": request.inputs}),
        }

    def sip_request(self, request: DialRequest) -> dict[str, Any]:
        """The body of ``CreateSIPParticipant`` (durations in proto3 JSON: ``"30s"``)."""
        return {
            "sipTrunkId": self._trunk,
            "sipCallTo": request.to_number,
            "sipNumber": request.from_number,
            "roomName": room_name(request.dial_id),
            "participantIdentity": participant_identity(request.dial_id),
            "participantAttributes": {DIAL_ATTRIBUTE: request.dial_id},
            "waitUntilAnswered": True,
            "ringingTimeout": _duration(self._ringing_s),
            "maxCallDuration": _duration(self._max_call_s),
        }

    async def _place(self, request: DialRequest) -> Placed:
        room = room_name(request.dial_id)
        made = await self._idempotent(request, ROOMS, "CreateRoom", self.room_request(request))
        if made.kind != "ok":
            placed = self._not_placed(request, "CreateRoom", made)
        else:
            not_dispatched = await self._dispatch(request)
            placed = not_dispatched if not_dispatched else await self._dial(request)
        if not placed.handoff:
            await self._delete_room(request, room)
        return placed

    async def _dispatch(self, request: DialRequest) -> Placed | None:
        """Dispatch the agent; None once it is, else how the dial ends. A lost answer is
        looked up (``ListDispatch``) before the dispatch is sent again: two would put two
        agents in the room."""
        body = self.dispatch_request(request)
        for _ in range(2):
            reply = await self._send(request, DISPATCH, "CreateDispatch", body)
            if reply.kind == "ok":
                return None
            if reply.kind == "not_sent" or (reply.kind == "error" and reply.status < 500):
                return self._not_placed(request, "CreateDispatch", reply)
            listed = await self._idempotent(
                request, DISPATCH, "ListDispatch", {"room": room_name(request.dial_id)}
            )
            if listed.kind != "ok":
                return self._not_placed(request, "ListDispatch", listed)
            for dispatch in listed.value("agent_dispatches") or []:
                if isinstance(dispatch, dict) and request.call_agent_id in (
                    dispatch.get("agent_name"),
                    dispatch.get("agentName"),
                ):
                    return None
        return Placed(status="failed", reason="LiveKit's CreateDispatch answers were lost")

    async def _dial(self, request: DialRequest) -> Placed:
        """CreateSIPParticipant, waiting for the answer; see the module's "Never two calls"."""
        body = self.sip_request(request)
        wait_s = self._ringing_s + self._timeout_s  # the request lasts as long as the ringing
        for attempt in range(1 + len(self._backoff)):
            reply = await self._send(request, SIP, "CreateSIPParticipant", body, timeout_s=wait_s)
            outcome = self._settled(request, reply)
            if isinstance(outcome, Placed):
                return outcome
            PROVIDER_ERRORS.labels("timeout" if reply.kind == "lost" else "5xx").inc()
            log.warning(
                "livekit_sip_answer_unclear",
                dial_id=request.dial_id,
                reply=reply.kind,
                code=reply.code,
                error=reply.problem,
            )
            found = await self._reconcile(request)
            if isinstance(found, Placed):
                return found
            if found is None or outcome == UNKNOWN:
                return Placed(
                    status="failed",
                    reason="placement_unknown",
                    details={**reply.details(), "calleeInRoom": found},
                )
            # CHECK, and no callee in the room: LiveKit sent no INVITE; send it again.
            PROVIDER_RETRIES.inc()
            if self._backoff:
                await self._sleep(self._backoff[min(attempt, len(self._backoff) - 1)])
        return Placed(
            status="failed",
            reason=f"LiveKit failed before dialing {1 + len(self._backoff)} times",
        )

    def _settled(self, request: DialRequest, reply: Reply) -> Placed | str:
        """What CreateSIPParticipant's reply settles (how the dial goes on), or what it
        leaves open: :data:`CHECK` or :data:`UNKNOWN` (the room must be looked at)."""
        if reply.kind == "ok":
            return _answered(reply)
        if reply.kind == "not_sent":
            return self._not_placed(request, "CreateSIPParticipant", reply)
        if reply.kind == "lost":
            return UNKNOWN
        outcome = outcome_of_error(reply.status, reply.code, reply.msg, reply.meta)
        if outcome == PUT_BACK:
            return self._put_back(request, reply)
        if outcome in (CHECK, UNKNOWN):
            return outcome
        return _ended(outcome, reply)

    async def _reconcile(self, request: DialRequest) -> Placed | bool | None:
        """After an unclear answer: the call if the callee is in the room (adopted, a
        handoff), False if not, None if the room cannot be listed."""
        await self._sleep(self._reconcile_delay_s)
        room = room_name(request.dial_id)
        listed = await self._send(request, ROOMS, "ListParticipants", {"room": room})
        if listed.kind == "error" and listed.code == "not_found":
            return False  # no room: no callee
        if listed.kind != "ok":
            log.warning("livekit_reconcile_failed", dial_id=request.dial_id, **listed.details())
            return None
        identity = participant_identity(request.dial_id)
        for participant in listed.value("participants") or []:
            if isinstance(participant, dict) and participant.get("identity") == identity:
                sid = str(participant.get("sid") or "")
                attributes = participant.get("attributes")
                state = (
                    attributes.get(CALL_STATUS_ATTRIBUTE) if isinstance(attributes, dict) else ""
                )
                log.warning("livekit_reconciled_call", dial_id=request.dial_id, sid=sid)
                return Placed(
                    handoff=True,
                    carrier=CARRIER,
                    call_id=sid or None,
                    live_status=live_status_of(str(state)),
                    details={"participantSid": sid, "adopted": True},
                )
        log.info("livekit_reconciled_no_call", dial_id=request.dial_id)
        return False

    # -- sending -----------------------------------------------------------------------
    async def _send(
        self,
        request: DialRequest,
        service: str,
        method: str,
        body: dict[str, Any],
        *,
        timeout_s: float | None = None,
    ) -> Reply:
        """Post, sending again only what surely never left."""
        reply = Reply("not_sent")
        for attempt, pause in enumerate((0.0, *self._backoff)):
            if pause:
                PROVIDER_RETRIES.inc()
                await self._sleep(pause)
            reply = await self.twirp.call(
                service, method, body, room=room_name(request.dial_id), timeout_s=timeout_s
            )
            if reply.kind != "not_sent":
                return reply
            PROVIDER_ERRORS.labels("connect").inc()
            log.warning(
                "livekit_not_sent", dial_id=request.dial_id, method=method, attempt=attempt + 1
            )
        return reply

    async def _idempotent(
        self, request: DialRequest, service: str, method: str, body: dict[str, Any]
    ) -> Reply:
        """Post a request that may be repeated (it creates nothing twice): a lost answer
        or a 5xx is sent again too, with the same pauses as a request never sent."""
        reply = Reply("not_sent")
        for attempt, pause in enumerate((0.0, *self._backoff)):
            if pause:
                PROVIDER_RETRIES.inc()
                await self._sleep(pause)
            reply = await self.twirp.call(service, method, body, room=room_name(request.dial_id))
            if reply.kind == "ok" or (reply.kind == "error" and reply.status < 500):
                return reply
            PROVIDER_ERRORS.labels("connect" if reply.kind == "not_sent" else "5xx").inc()
            log.warning(
                "livekit_retried", dial_id=request.dial_id, method=method, attempt=attempt + 1
            )
        return reply

    async def _delete_room(self, request: DialRequest, room: str) -> None:
        """Delete the room of a call that never connected (best effort)."""
        reply = await self.twirp.call(ROOMS, "DeleteRoom", {"room": room}, room=room)
        if reply.kind != "ok" and reply.code != "not_found":
            log.warning("livekit_room_not_deleted", dial_id=request.dial_id, **reply.details())

    def _put_back(self, request: DialRequest, reply: Reply) -> Placed:
        PROVIDER_ERRORS.labels("4xx").inc()
        wait_s = self._rate_limit_wait_s * (1 + random.random() / 2)  # noqa: S311
        log.info("livekit_rate_limited", dial_id=request.dial_id, retry_in_s=wait_s)
        return Placed(retry_in_s=wait_s, reason="rate_limited", details=reply.details())

    def _not_placed(self, request: DialRequest, method: str, reply: Reply) -> Placed:
        """How a dial ends when a request before the call failed (no call was made)."""
        if reply.kind == "error" and outcome_of_error(reply.status, reply.code, "", {}) == (
            PUT_BACK
        ):
            return self._put_back(request, reply)
        if reply.kind == "not_sent":
            attempts = 1 + len(self._backoff)
            reason = f"LiveKit unreachable: {reply.problem} after {attempts} attempts"
        elif reply.kind == "error":
            PROVIDER_ERRORS.labels("4xx" if reply.status < 500 else "5xx").inc()
            reason = f"LiveKit refused {method} ({reply.code or reply.status})"
        else:
            reason = f"LiveKit's {method} answer was lost ({reply.problem})"
        return Placed(status="failed", reason=reason, details=reply.details())

    def close(self) -> None:
        """Close the connection pool."""
        self.twirp.close()


def _answered(reply: Reply) -> Placed:
    """The callee picked up: LiveKit holds the call; its end comes by webhook."""
    sid = reply.value("participant_id")
    call_id = sid if isinstance(sid, str) and sid else None
    sip_call = reply.value("sip_call_id")
    return Placed(
        handoff=True,
        carrier=CARRIER,
        call_id=call_id,
        live_status=STATUS_TABLE[("answer", "CreateSIPParticipant")],
        details={"participantSid": call_id or "", "sipCallId": str(sip_call or "")},
    )


def _ended(status: str, reply: Reply) -> Placed:
    """The call's end, known from CreateSIPParticipant's error."""
    code = sip_code_of(reply.meta)
    if code is not None:
        reason = f"SIP {code} {reply.meta.get('sip_status', '')}".strip()
    elif status == STATUS_TABLE[("error", "ring_timeout")] and reply.code == "canceled":
        reason = "ringing_timeout"
    else:
        reason = f"LiveKit refused the call ({reply.code or reply.status})"
    return Placed(status=status, reason=reason, details=reply.details())


def _duration(seconds: float) -> str:
    """A ``google.protobuf.Duration`` in proto3 JSON."""
    whole = int(seconds)
    return f"{whole}s" if whole == seconds else f"{seconds:.3f}s"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
