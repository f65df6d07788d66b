"""LiveKit's server API as the livekit dialer uses it: Twirp over HTTP with JSON bodies.

Twirp (twitchtv.github.io/twirp, "Twirp Wire Protocol"): every method is
``POST {url}/twirp/livekit.<Service>/<Method>`` with a JSON body (the protobuf message
in proto3's JSON mapping) and ``Content-Type: application/json``; a 200 answers with
the result message as JSON, any other status with a Twirp error ``{"code", "msg",
"meta"}`` (docs.livekit.io, "Server APIs", and livekit's SIP API reference: "The SIP
API is accessible via /twirp/livekit.SIP/<MethodName>"). LiveKit's server writes
answers with the proto field names (``participant_identity``); the mapping's
lowerCamelCase names are read as well.

A :class:`Reply` says which of four things happened: an answer, a Twirp error, a
request that surely never left (connection refused: safe to send again), or one whose
answer was lost after it was sent (never safe to repeat blindly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from domain.livekit_tokens import api_token
from worker.dialers.loopclient import LoopClient, json_of

#: Errors raised before any byte of the request was sent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
#: The longest text kept of an error's message or meta value.
DETAIL_CHARS = 300


def api_base(url: str) -> str:
    """The HTTP base of the server API for ``BATCHDIAL_LIVEKIT_URL``: LiveKit's URL is
    often given as ``wss://…`` (what clients connect to); its API is the same host over
    ``https`` (``ws`` -> ``http``), as LiveKit's SDKs derive it."""
    parts = urlsplit(url.strip().rstrip("/"))
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


@dataclass(frozen=True, slots=True)
class Reply:
    """What one Twirp request gave: ``ok`` (``data`` is the answer), ``error`` (``status``
    and the Twirp error's ``code``, ``msg`` and ``meta``), ``not_sent`` or ``lost``
    (``problem`` names the exception)."""

    kind: Literal["ok", "error", "not_sent", "lost"]
    status: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    msg: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    def value(self, name: str) -> Any:
        """A field of the answer by its proto name (``participant_id``), or by its JSON
        name (``participantId``) when the server wrote that."""
        if name in self.data:
            return self.data[name]
        head, *rest = name.split("_")
        return self.data.get(head + "".join(part.title() for part in rest))

    def details(self) -> dict[str, Any]:
        """The error, bounded, for a dial's details."""
        out: dict[str, Any] = {"httpStatus": self.status}
        if self.code:
            out["code"] = self.code
        if self.msg:
            out["msg"] = self.msg[:DETAIL_CHARS]
        for key in ("sip_status_code", "sip_status"):
            if key in self.meta:
                out[key] = self.meta[key][:DETAIL_CHARS]
        if self.problem:
            out["error"] = self.problem
        return out


class Twirp:
    """A client of LiveKit's Twirp API; one ``httpx.AsyncClient``, made on the event
    loop that first uses it (an AsyncClient belongs to one loop)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base = api_base(url)
        self._key = api_key
        self._secret = api_secret
        self._timeout_s = timeout_s
        self._clock = clock
        self._http = LoopClient(timeout_s, client)

    def url(self, service: str, method: str) -> str:
        """Where ``service``/``method`` is posted."""
        return f"{self.base}/twirp/livekit.{service}/{method}"

    async def call(
        self,
        service: str,
        method: str,
        body: dict[str, Any],
        *,
        room: str,
        timeout_s: float | None = None,
    ) -> Reply:
        """Post ``body`` to ``service``/``method`` with a token for ``room``."""
        token = api_token(self._key, self._secret, room=room, now=self._clock())
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        timeout = httpx.Timeout(timeout_s or self._timeout_s, connect=self._timeout_s)
        try:
            answer = await self._http.get().post(
                self.url(service, method), json=body, headers=headers, timeout=timeout
            )
        except NOT_SENT as exc:
            return Reply("not_sent", problem=type(exc).__name__)
        except httpx.HTTPError as exc:
            return Reply("lost", problem=type(exc).__name__)
        data = json_of(answer)
        if answer.status_code == 200:
            if isinstance(data, dict):
                return Reply("ok", status=200, data=data)
            # A 200 that is not the answer's JSON: something in front of LiveKit spoke.
            return Reply("lost", status=200, problem="a 200 answer that is not JSON")
        return _error(answer.status_code, data)

    def close(self) -> None:
        """Close the connection pools."""
        self._http.close()


def _error(status: int, data: object) -> Reply:
    """The Twirp error of a non-200 answer; ``code`` stays "" when the body is not one
    (a proxy's page), and the status alone tells what happened."""
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return Reply("error", status=status)
    meta = data.get("meta")
    return Reply(
        "error",
        status=status,
        code=data["code"],
        msg=str(data.get("msg", ""))[:DETAIL_CHARS],
        meta=(
            {str(k): str(v)[:DETAIL_CHARS] for k, v in meta.items()}
            if isinstance(meta, dict)
            else {}
        ),
    )
