"""``GET /api/workspace/events`` on a real Redis (issue 16): the workspace's own log,
where ``webhook.disabled`` is written, read in order and paged by event id as a job's
log is; another workspace reads only its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from fastapi.testclient import TestClient

from domain.keys import Keys
from producer.http.app import create_app
from producer.service import Producer
from tests.support.bodies import job_body
from tests.support.http import assert_error, h
from tests.support.waits import wait_for
from tests.support.webhook_receiver import Receiver, receiver_server
from worker.engine.loop import EventLoop
from worker.webhooks.delivery import WebhookDelivery, WebhookTiming

EVENTS = "/api/workspace/events"


@pytest.fixture
def api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    with TestClient(create_app(real_redis, namespace, webhook_allow_private=True)) as client:
        yield client


def test_a_disabled_endpoint_shows_in_the_workspace_log(
    api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """Two endpoints fail for their whole window (0 here): each is disabled with a
    webhook.disabled event, which the route lists in order, a page at a time; another
    workspace's log is empty; a cursor that is no event id is refused naming it."""
    producer: Producer = api.app.state.producer  # type: ignore[attr-defined]
    owner = producer.workspaces.create("owner", 5, ["+12125550100"])
    other = producer.workspaces.create("other", 5, ["+14155550100"])
    ws_id = owner["workspaceId"]
    assert api.get(EVENTS, headers=h(owner)).json() == {"data": [], "nextCursor": None}
    failing = Receiver(mode="error")
    loop = EventLoop("test-ws-events")
    timing = replace(WebhookTiming(), retry_s=(0, 0), disable_after_ms=0, lease_ms=5_000)
    delivery = WebhookDelivery(
        real_redis, Keys(namespace), loop, lambda: None, timing, allow_private=True
    )
    try:
        with receiver_server(failing) as server:
            made = [
                producer.webhooks.create(ws_id, {"url": server.url, "events": ["job.created"]})
                for _ in range(2)
            ]
            producer.create_job(ws_id, job_body(owner, 1))
            for _ in range(2):  # a failure starts the window, the next one ends it
                delivery.run()
                wait_for(lambda: delivery.in_flight() == 0, 10, "attempts recorded")
    finally:
        delivery.close()
        loop.stop()
    first = api.get(EVENTS, params={"limit": 1}, headers=h(owner)).json()
    assert len(first["data"]) == 1 and first["nextCursor"] == first["data"][0]["id"]
    rest = api.get(EVENTS, params={"cursor": first["nextCursor"]}, headers=h(owner)).json()
    events = first["data"] + rest["data"]
    assert rest["nextCursor"] is None
    assert [e["type"] for e in events] == ["webhook.disabled"] * 2
    assert {e["webhookId"] for e in events} == {m["id"] for m in made}
    assert all(e["reason"] and e["at"] and "failingSince" in e for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert api.get(EVENTS, headers=h(other)).json() == {"data": [], "nextCursor": None}
    assert_error(api.get(EVENTS, params={"cursor": "x"}, headers=h(owner)), 422)
    assert api.get(EVENTS).status_code == 401
