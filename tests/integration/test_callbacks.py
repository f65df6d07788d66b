"""Provider status callbacks: signed, idempotent, and nothing else gets in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.pagination import collect
from domain.signing import SIGNATURE_HEADER, sign
from producer.http.app import create_app
from producer.http.middleware.metrics import CALLBACK_FAST_PATH
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.engine import HangingDialer
from worker.engine.core import Engine
from worker.engine.timing import Timing

SECRET = "s3cret"


class NullOutbox:
    def send_pump(self, ws_id: str, job_id: str) -> None:
        pass

    def send_dial(self, ws_id: str, job_id: str, index: int) -> None:
        pass

    def send_dials(self, ws_id: str, job_id: str, indexes: Sequence[int]) -> None:
        pass


@pytest.fixture
def setup(real_redis: redis.Redis, namespace: str) -> Iterator[dict[str, Any]]:
    """An API with a dialer secret, and one live dial handed to the provider."""
    app = create_app(real_redis, namespace, dialer_secret=SECRET)
    producer: Producer = app.state.producer
    ws = producer.workspaces.create("w", 5, ["+12125550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=2, schedule=None))
    producer.set_paused(ws["workspaceId"], job["id"], False)
    dialer = HangingDialer(handoff=True)
    engine = Engine(real_redis, producer.keys, dialer, NullOutbox(), Timing())
    engine.pump(ws["workspaceId"], job["id"])
    assert engine.dial(ws["workspaceId"], job["id"], 0) == "ok"
    with TestClient(app) as client:
        yield {
            "api": client,
            "ws": ws,
            "job": job,
            "dial_id": dialer.requests[0].dial_id,
            "producer": producer,
        }


def post(
    api: TestClient,
    dial_id: str,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    at: int | None = None,
    header: str | None = None,
) -> Any:
    body = json.dumps(payload).encode()
    signature = header if header is not None else sign(secret, dial_id, body, at)
    return api.post(
        f"/api/dials/{dial_id}/status",
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: signature},
    )


def events(setup: dict[str, Any]) -> list[dict[str, Any]]:
    producer: Producer = setup["producer"]
    ws, job = setup["ws"]["workspaceId"], setup["job"]["id"]
    return collect(lambda **kw: producer.events(ws, job, **kw))


def test_a_signed_final_status_ends_the_dial_once(setup: dict[str, Any]) -> None:
    """A signed final status ends the dial; the same callback again changes nothing."""
    api, dial_id = setup["api"], setup["dial_id"]
    first = post(api, dial_id, {"status": "ringing"})
    assert first.json() == {"dialId": dial_id, "status": "ringing", "changed": False}
    assert post(api, dial_id, {"status": "queued"}).json()["changed"] is False
    done = post(api, dial_id, {"status": "no-answer", "sipCode": "480"})
    assert done.status_code == 200
    assert done.json()["changed"] is True
    again = post(api, dial_id, {"status": "completed"})
    assert again.json()["changed"] is False
    finished = [e for e in events(setup) if e["type"].startswith("dial.")]
    assert [e["type"] for e in finished] == ["dial.started", "dial.finished"]
    assert finished[-1]["status"] == "no-answer"
    assert finished[-1]["provider"] == {"sipCode": "480"}
    job = setup["producer"].get_job(setup["ws"]["workspaceId"], setup["job"]["id"])
    assert job["counts"]["byStatus"] == {"no-answer": 1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": "wrong"},
        {"header": ""},
        {"header": "t=1,v1=abc"},
        {"header": "garbage"},
        {"at": int(time.time()) - 3600},
        {"at": int(time.time()) + 3600},
    ],
)
def test_bad_or_stale_signatures_are_401_and_change_nothing(
    setup: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    """Missing, wrong, malformed or replayed (old) signatures are refused."""
    before = events(setup)
    response = post(setup["api"], setup["dial_id"], {"status": "completed"}, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert events(setup) == before


def test_unknown_dials_and_statuses(setup: dict[str, Any]) -> None:
    """Unknown dial ids are 404; statuses outside the contract are 422."""
    api = setup["api"]
    assert post(api, "dial_nothing_0_1_x", {"status": "completed"}).status_code == 404
    assert post(api, "nonsense", {"status": "completed"}).status_code == 404
    bad = post(api, setup["dial_id"], {"status": "exploded"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "status"
    assert post(api, setup["dial_id"], {"nostatus": 1}).status_code == 422


def test_callbacks_need_a_configured_secret(real_redis: redis.Redis, namespace: str) -> None:
    """Without BATCHDIAL_DIALER_SECRET on the API, callbacks are refused."""
    with TestClient(create_app(real_redis, namespace)) as api:
        response = post(api, "dial_x_0_1_y", {"status": "completed"})
        assert response.status_code == 401
        assert "BATCHDIAL_DIALER_SECRET" in response.json()["error"]["message"]


def fast_answers() -> float:
    """Callbacks the fast path answered so far (this process)."""
    return float(CALLBACK_FAST_PATH._value.get())


def test_a_good_callback_is_answered_ahead_of_the_framework_and_the_rest_by_the_route(
    setup: dict[str, Any],
) -> None:
    """producer/http/fastpath.py answers a well-formed signed report of a known dial with
    the route's JSON and headers; anything else goes to the route, which answers it as
    before (the counter says which answered)."""
    api: TestClient = setup["api"]
    dial_id = setup["dial_id"]
    before = fast_answers()
    unknown = post(api, dial_id.replace("_0_", "_1_"), {"status": "completed"})
    assert unknown.status_code == 404
    forged = post(api, dial_id, {"status": "completed"}, secret="wrong")
    assert forged.status_code == 401
    assert (
        forged.json()["error"]["code"]
        == post(api, dial_id, {}, header="t=1").json()["error"]["code"]
    )
    bad = post(api, dial_id, {"status": "exploded"})
    assert bad.status_code == 422
    assert fast_answers() == before, "errors are the route's own"
    ringing = post(api, dial_id, {"status": "ringing"})
    assert ringing.status_code == 200
    assert ringing.json() == {"dialId": dial_id, "status": "ringing", "changed": False}
    assert fast_answers() == before + 1
    assert ringing.headers["x-content-type-options"] == "nosniff"
    assert ringing.headers["referrer-policy"] == "no-referrer"
    assert ringing.headers["content-type"] == "application/json"
    ended = post(api, dial_id, {"status": "completed"})
    assert ended.json() == {"dialId": dial_id, "status": "completed", "changed": True}
    assert fast_answers() == before + 2
    assert [e["type"] for e in events(setup)].count("dial.finished") == 1
    metrics = api.get("/metrics").text
    counted = 'batchdial_http_requests_total{method="POST",route="/api/dials/{dial_id}/status",'
    assert f'{counted}status="200"}}' in metrics


def test_a_callback_without_a_length_goes_through_the_route(setup: dict[str, Any]) -> None:
    """A chunked body (no Content-Length) is the route's, and still ends the dial."""
    api: TestClient = setup["api"]
    dial_id = setup["dial_id"]
    body = json.dumps({"status": "completed"}).encode()
    before = fast_answers()

    def chunks() -> Iterator[bytes]:
        yield body[:5]
        yield body[5:]

    answer = api.post(
        f"/api/dials/{dial_id}/status",
        content=chunks(),
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(SECRET, dial_id, body)},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] is True
    assert fast_answers() == before
