"""``/api/webhooks`` on a real Redis (issue 16): endpoints, their secret, validation
with field paths, the SSRF refusals (loopback destinations only: nothing is sent),
the 20-endpoint limit, the outbox switched on by the first endpoint, deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from fastapi.testclient import TestClient

from domain.keys import Keys
from producer.http.app import create_app
from producer.service import Producer
from producer.webhooks import MAX_ENDPOINTS, Webhooks
from tests.support.bodies import job_body
from tests.support.http import assert_error, h

WH = "/api/webhooks"


def _public(_host: str) -> list[str]:
    return ["93.184.216.34"]


@pytest.fixture
def strict_api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    """The API with private destinations refused; names resolve to a public address
    unless they are loopback ones (so that no test resolves or sends anything)."""
    app = create_app(real_redis, namespace)
    producer: Producer = app.state.producer

    def resolve(host: str) -> list[str]:
        if host in ("localhost", "loopback.test"):
            return ["127.0.0.1", "::1"]
        if host.startswith("[") or host[0].isdigit() or ":" in host:
            return [host.strip("[]")]
        return _public(host)

    producer.webhooks = Webhooks(real_redis, Keys(namespace), resolver=resolve)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def ws(strict_api: TestClient) -> dict[str, Any]:
    producer: Producer = strict_api.app.state.producer  # type: ignore[attr-defined]
    return producer.workspaces.create("ws", 5, ["+12125550100"])


def _create(api: TestClient, ws: dict[str, Any], **body: Any) -> Any:
    return api.post(
        WH, json={"url": "https://hooks.example/in", "events": ["*"], **body}, headers=h(ws)
    )


def test_create_shows_the_secret_once_and_crud_works(
    strict_api: TestClient, ws: dict[str, Any]
) -> None:
    """Create answers 201 with the secret; read and list never show it; update changes
    the given fields; rotate gives a new secret; delete removes it (then 404)."""
    created = _create(strict_api, ws, events=["dial.finished", "row.*"], description="crm")
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    assert hook["events"] == ["dial.finished", "row.*"]
    url = f"{WH}/{hook['id']}"
    read = strict_api.get(url, headers=h(ws)).json()
    assert "secret" not in read or read["secret"] is None
    listed = strict_api.get(WH, headers=h(ws)).json()
    assert [x["id"] for x in listed["data"]] == [hook["id"]] and listed["nextCursor"] is None
    patched = strict_api.patch(url, json={"enabled": False, "description": None}, headers=h(ws))
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False and patched.json()["description"] is None
    assert patched.json()["events"] == ["dial.finished", "row.*"]
    rotated = strict_api.post(f"{url}/rotate-secret", headers=h(ws)).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    assert strict_api.delete(url, headers=h(ws)).status_code == 200
    assert_error(strict_api.get(url, headers=h(ws)), 404, "not_found")


def test_another_workspace_sees_nothing(strict_api: TestClient, ws: dict[str, Any]) -> None:
    """An endpoint of one workspace is not found from another."""
    hook = _create(strict_api, ws).json()
    producer: Producer = strict_api.app.state.producer  # type: ignore[attr-defined]
    other = producer.workspaces.create("other", 5, ["+14155550100"])
    assert_error(strict_api.get(f"{WH}/{hook['id']}", headers=h(other)), 404)
    assert strict_api.get(WH, headers=h(other)).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"events": ["dial.finish"]}, "events[0]"),
        ({"events": ["*", "nope.*"]}, "events[1]"),
        ({"events": []}, "events"),
        ({"url": "http://hooks.example/in"}, "url"),
        ({"url": "https://127.0.0.1/in"}, "url"),
        ({"url": "https://[::1]:8443/in"}, "url"),
        ({"url": "https://localhost/in"}, "url"),
        ({"url": "https://loopback.test/in"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "https://10.1.2.3/in"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"colour": "red"}, "colour"),
        ({"description": "x" * 257}, "description"),
    ],
)
def test_invalid_endpoints_are_refused_naming_the_field(
    strict_api: TestClient, ws: dict[str, Any], body: dict[str, Any], path: str
) -> None:
    """Unknown event types, http, destinations on loopback/private/link-local addresses
    (SSRF) and unknown fields are refused with 422 naming the field path."""
    error = assert_error(_create(strict_api, ws, **body), 422, "invalid_input")
    assert path in [d["path"] for d in error["details"]], error


def test_at_most_twenty_endpoints_per_workspace(strict_api: TestClient, ws: dict[str, Any]) -> None:
    """The 21st endpoint is refused (409: the body is fine, the workspace is full);
    deleting one makes room."""
    ids = [_create(strict_api, ws).json()["id"] for _ in range(MAX_ENDPOINTS)]
    assert_error(_create(strict_api, ws), 409, "conflict")
    strict_api.delete(f"{WH}/{ids[0]}", headers=h(ws))
    assert _create(strict_api, ws).status_code == 201


def test_the_first_endpoint_switches_the_outbox_on(
    strict_api: TestClient, ws: dict[str, Any], real_redis: redis.Redis, namespace: str
) -> None:
    """Events go to the workspace's outbox only while it has an endpoint: none before
    the first, every one after it, none after the last is deleted."""
    keys = Keys(namespace)
    outbox = keys.ws_key(ws["workspaceId"], "K_WH_OUT")
    body = job_body(ws, 1)
    first = strict_api.post("/api/batch_dial_jobs", json=body, headers=h(ws))
    assert first.status_code == 201, first.text
    assert real_redis.xlen(outbox) == 0
    hook = _create(strict_api, ws).json()
    second = strict_api.post("/api/batch_dial_jobs", json=body, headers=h(ws)).json()
    entries = cast(list[tuple[str, dict[str, str]]], real_redis.xrange(outbox))
    assert [e[1]["j"] for e in entries] == [second["id"]]
    events = strict_api.get(f"/api/batch_dial_jobs/{second['id']}/events", headers=h(ws)).json()
    assert [e[1]["i"] for e in entries] == [e["id"] for e in events["data"]]
    strict_api.delete(f"{WH}/{hook['id']}", headers=h(ws))
    strict_api.post("/api/batch_dial_jobs", json=body, headers=h(ws))
    assert real_redis.xlen(outbox) == 1


def test_deliveries_of_an_unknown_endpoint_or_delivery_are_not_found(
    strict_api: TestClient, ws: dict[str, Any]
) -> None:
    """The deliveries list is empty for a new endpoint; unknown ids answer 404."""
    hook = _create(strict_api, ws).json()
    page = strict_api.get(f"{WH}/{hook['id']}/deliveries", headers=h(ws)).json()
    assert page == {"data": [], "nextCursor": None}
    assert_error(strict_api.get(f"{WH}/wh_nope/deliveries", headers=h(ws)), 404)
    retry = strict_api.post(f"{WH}/{hook['id']}/deliveries/msg_nope/retry", headers=h(ws))
    assert_error(retry, 404)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"url": None}, "url"),
        ({"enabled": None}, "enabled"),
        ({"events": None}, "events"),
        ({"events": ["dial.nope"]}, "events[0]"),
        ({"url": "https://192.168.0.10/in"}, "url"),
    ],
)
def test_invalid_updates_are_refused_naming_the_field(
    strict_api: TestClient, ws: dict[str, Any], body: dict[str, Any], path: str
) -> None:
    """An update may not null a required field nor break the create rules; the endpoint
    is left as it was."""
    hook = _create(strict_api, ws).json()
    url = f"{WH}/{hook['id']}"
    error = assert_error(strict_api.patch(url, json=body, headers=h(ws)), 422, "invalid_input")
    assert path in [d["path"] for d in error["details"]], error
    after = strict_api.get(url, headers=h(ws)).json()
    assert after["url"] == hook["url"] and after["events"] == hook["events"]
