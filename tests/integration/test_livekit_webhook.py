"""LiveKit's webhooks at the API: verified by LiveKit's token, applied once, and an end
that comes while the worker is still placing the call is sent back to wait (503)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.livekit_calls import participant_identity, room_name
from domain.pagination import collect
from producer.http.app import create_app
from producer.http.routes.providers import CarrierAuth
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.engine import HangingDialer
from tests.support.livekit_api import API_KEY, API_SECRET, WEBHOOK_PATH, webhook_token
from worker.engine.core import Engine
from worker.engine.timing import Timing


class NullOutbox:
    def send_pump(self, ws_id: str, job_id: str) -> None:
        pass

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        pass

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        pass


@pytest.fixture
def setup(real_redis: redis.Redis, namespace: str) -> Iterator[dict[str, Any]]:
    """An API that knows the LiveKit key and secret, and two live dials: one a worker is
    still placing, one handed to LiveKit."""
    carriers = CarrierAuth(livekit_api_key=API_KEY, livekit_api_secret=API_SECRET)
    app = create_app(real_redis, namespace, carriers=carriers)
    producer: Producer = app.state.producer
    ws = producer.workspaces.create("w", 5, ["+12125550100", "+13125550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=2, schedule=None))
    producer.set_paused(ws["workspaceId"], job["id"], False)
    placing, handed = HangingDialer(handoff=False), HangingDialer(handoff=True)
    for index, dialer in enumerate((placing, handed)):
        engine = Engine(real_redis, producer.keys, dialer, NullOutbox(), Timing())
        engine.pump(ws["workspaceId"], job["id"])
        assert engine.dial(ws["workspaceId"], job["id"], index) == "ok"
    with TestClient(app) as client:
        yield {
            "api": client,
            "ws": ws["workspaceId"],
            "job": job["id"],
            "placing": placing.requests[0].dial_id,
            "handed": handed.requests[0].dial_id,
            "producer": producer,
        }


def event(kind: str, dial_id: str, **participant: Any) -> bytes:
    body: dict[str, Any] = {"event": kind, "room": {"name": room_name(dial_id)}, "id": "EV_1"}
    if kind.startswith("participant_"):
        body["participant"] = {
            "sid": "PA_1",
            "identity": participant_identity(dial_id),
            "kind": "SIP",
            **participant,
        }
    return json.dumps(body).encode()


def post(api: TestClient, body: bytes, token: str | None = "") -> Any:
    headers = {"Content-Type": "application/webhook+json"}
    if token is not None:
        headers["Authorization"] = token or webhook_token(body)
    return api.post(WEBHOOK_PATH, content=body, headers=headers)


def events(setup: dict[str, Any]) -> list[dict[str, Any]]:
    producer: Producer = setup["producer"]
    return collect(lambda **kw: producer.events(setup["ws"], setup["job"], **kw))


def test_a_handed_off_call_ends_once(setup: dict[str, Any]) -> None:
    """The callee leaving ends the dial as its disconnect reason says; sent again (or
    room_finished after it), nothing changes."""
    api, dial = setup["api"], setup["handed"]
    left = event("participant_left", dial, disconnectReason="USER_REJECTED")
    first = post(api, left)
    assert first.status_code == 200 and first.json() == {
        "dialId": dial,
        "status": "busy",
        "changed": True,
    }
    assert post(api, left).json()["changed"] is False
    assert post(api, event("room_finished", dial)).json()["changed"] is False
    ended = [e for e in events(setup) if e["type"] == "dial.finished"]
    assert [(e["dialId"], e["status"]) for e in ended] == [(dial, "busy")]
    assert ended[0]["provider"]["disconnectReason"] == "USER_REJECTED"


def test_an_end_while_the_worker_places_the_call_is_sent_back(setup: dict[str, Any]) -> None:
    """CreateSIPParticipant's answer (with the exact SIP status) decides a call being
    placed: its end by webhook is answered 503 with Retry-After, and changes nothing;
    its progress is recorded."""
    api, dial = setup["api"], setup["placing"]
    joined = post(api, event("participant_joined", dial, attributes={"sip.callStatus": "dialing"}))
    assert joined.json() == {"dialId": dial, "status": "queued", "changed": True}
    early = post(api, event("participant_left", dial, disconnectReason="USER_UNAVAILABLE"))
    assert early.status_code == 503 and early.headers["Retry-After"] == "1"
    assert early.json()["error"]["code"] == "still_placing"
    assert not [e for e in events(setup) if e["type"] == "dial.finished"]


FORGERIES: dict[str, Callable[[bytes], str | None]] = {
    "none": lambda body: None,
    "garbage": lambda body: "not-a-jwt",
    "other body": lambda body: webhook_token(body + b" "),
    "other secret": lambda body: webhook_token(body, secret="another-secret-0123456789abcdef-01"),
    "other key": lambda body: webhook_token(body, api_key="APIanother"),
    "expired": lambda body: webhook_token(body, now=time.time() - 3600),
}


@pytest.mark.parametrize("what", list(FORGERIES))
def test_unverified_webhooks_are_401_and_change_nothing(setup: dict[str, Any], what: str) -> None:
    body = event("participant_left", setup["handed"], disconnectReason="USER_REJECTED")
    before = events(setup)
    answer = post(setup["api"], body, FORGERIES[what](body))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"
    assert events(setup) == before


def test_webhooks_need_the_livekit_settings(real_redis: redis.Redis, namespace: str) -> None:
    with TestClient(create_app(real_redis, namespace)) as api:
        answer = post(api, event("room_finished", "dial_x_0_1_y"))
        assert answer.status_code == 401
        assert "BATCHDIAL_LIVEKIT_API_SECRET" in answer.json()["error"]["message"]
