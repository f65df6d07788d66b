"""Object-level authorisation: every route that takes an id, called by someone else.

The table below is checked against the OpenAPI document: a new route with a path id
that the table does not cover fails the test until its abuse case is written.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis
from fastapi.testclient import TestClient

from domain.pagination import collect
from domain.signing import SIGNATURE_HEADER, sign
from tests.abuse.shape import ADMIN_KEY, JOBS, SECRET, assert_spec_error, snapshot
from tests.support.engine import start_one_dial
from tests.support.http import producer_of

JOB = JOBS + "/{job_id}"

#: Routes authenticated by a workspace API key: what another workspace sends to each.
#: The owner's job is ACTIVE with a live dial, so each of these would change it.
BY_API_KEY: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", JOB): None,
    ("PUT", JOB): {"maxConcurrentDials": 1, "name": "taken over"},
    ("POST", JOB + "/paused"): {"paused": True},
    ("POST", JOB + "/cancel"): None,
    ("GET", JOB + "/queue"): None,
    ("GET", JOB + "/dials"): None,
    ("GET", JOB + "/events"): None,
    ("GET", JOB + "/forecast"): None,
    ("POST", JOB + "/rows"): {"rows": [{"toNumber": "+12125559999"}]},
    ("GET", JOB + "/results"): None,
    ("POST", JOB + "/retry"): {"outcomes": ["completed", "no-answer"]},
}
#: Routes on an item of the caller's workspace named in the path (not a job): what
#: another workspace sends to each. ``{number}`` is on the owner's suppression list.
BY_API_KEY_WS_ITEM: dict[tuple[str, str], dict[str, Any] | None] = {
    ("DELETE", "/api/suppressions/{number}"): None,
}
#: Routes on a number or an API key of the caller's workspace (issue 19): what another
#: workspace sends to each of the owner's (``{number_id}``, ``{key_id}``).
BY_API_KEY_WS_RESOURCE: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PATCH", "/api/phone_numbers/{number_id}"): {"resting": True, "maxConcurrentDials": 1},
    ("DELETE", "/api/phone_numbers/{number_id}"): None,
    ("DELETE", "/api/workspace/api_keys/{key_id}"): None,
}
#: Routes on one dial (``{dial_id}``), authenticated by a workspace API key.
BY_API_KEY_DIAL: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/api/dials/{dial_id}"): None,
}
#: Routes on one webhook endpoint (``{webhook_id}``) of the caller's workspace.
WEBHOOK = "/api/webhooks/{webhook_id}"
BY_API_KEY_WEBHOOK: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", WEBHOOK): None,
    ("PATCH", WEBHOOK): {"description": "taken over", "enabled": False},
    ("DELETE", WEBHOOK): None,
    ("POST", WEBHOOK + "/rotate-secret"): None,
    ("GET", WEBHOOK + "/deliveries"): None,
    ("POST", WEBHOOK + "/deliveries/{delivery_id}/retry"): None,
}
#: Operator routes (``Authorization: Bearer <BATCHDIAL_ADMIN_KEY>`` only): what a
#: workspace's own API key sends to each.
BY_ADMIN_KEY: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PATCH", "/api/admin/workspaces/{workspace_id}"): {"dialLimit": 1, "disabled": True},
}
#: Routes authenticated by the provider's HMAC signature, not by an API key.
BY_SIGNATURE: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/dials/{dial_id}/status"): {"status": "completed"},
}


def _routes_with_a_path_id(api: TestClient) -> set[tuple[str, str]]:
    paths = api.get("/openapi.json").json()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if "{" in path
        for method in operations
    }


def _state(api: TestClient, client: redis.Redis, namespace: str, ws_id: str, job_id: str) -> Any:
    producer = producer_of(api)
    return (
        producer.get_job(ws_id, job_id),
        collect(lambda **kw: producer.events(ws_id, job_id, **kw)),
        collect(lambda **kw: producer.dials(ws_id, job_id, **kw)),
        snapshot(client, namespace),
    )


def test_the_table_covers_every_route_with_a_path_id(secured_api: TestClient) -> None:
    """Every (method, path) of the OpenAPI document that takes an id has its abuse case."""
    documented = _routes_with_a_path_id(secured_api)
    covered = set(BY_API_KEY) | set(BY_API_KEY_WS_ITEM) | set(BY_API_KEY_DIAL) | set(BY_SIGNATURE)
    covered |= set(BY_API_KEY_WEBHOOK) | set(BY_API_KEY_WS_RESOURCE) | set(BY_ADMIN_KEY)
    assert documented - covered == set(), "routes with an id and no authorisation case"
    assert covered - documented == set(), "cases for routes that no longer exist"


def test_another_workspace_gets_404_and_changes_nothing(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """Another workspace's key (both header forms) on each job route: 404, nothing changed.

    Its 404 is the very answer the owner gets for a job that does not exist, so the
    answer tells nothing about whether the id exists.
    """
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    live = start_one_dial(real_redis, producer, owner)
    job_id, owner_ws = live["job_id"], owner["workspaceId"]
    missing = "job_" + secrets.token_hex(10)
    assert _routes_with_a_path_id(api) >= set(BY_API_KEY)
    before = _state(api, real_redis, namespace, owner_ws, job_id)
    assert before[0]["status"] == "ACTIVE"
    assert before[2], "the owner's job has a dial"

    for (method, template), payload in BY_API_KEY.items():
        path = template.format(job_id=job_id)
        for auth in ({"api_key": other["apiKey"]}, {"Authorization": f"Bearer {other['apiKey']}"}):
            response = api.request(method, path, json=payload, headers=auth)
            error = assert_spec_error(response, 404, "not_found")
            absent = api.request(
                method,
                template.format(job_id=missing),
                json=payload,
                headers={"api_key": owner["apiKey"]},
            )
            assert_spec_error(absent, 404, "not_found")
            assert json.dumps(error).replace(job_id, "ID") == json.dumps(
                absent.json()["error"]
            ).replace(missing, "ID"), f"{method} {template}: a foreign job is told apart"
            after = _state(api, real_redis, namespace, owner_ws, job_id)
            assert after == before, f"{method} {template} by another workspace changed the job"

    listed = api.get(JOBS, headers={"api_key": other["apiKey"]}).json()
    assert listed == {"data": [], "nextCursor": None}


def test_another_workspace_gets_404_for_a_dial(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """Another workspace's key on the owner's live dial: the 404 the owner gets for a
    dial that does not exist, and nothing changed; the owner reads it."""
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    live = start_one_dial(real_redis, producer, owner)
    job_id, dial_id = live["job_id"], live["dial_id"]
    missing = dial_id[:-4] + "0000"
    before = _state(api, real_redis, namespace, owner["workspaceId"], job_id)
    for (method, template), payload in BY_API_KEY_DIAL.items():
        foreign = api.request(
            method,
            template.format(dial_id=dial_id),
            json=payload,
            headers={"api_key": other["apiKey"]},
        )
        error = assert_spec_error(foreign, 404, "not_found")
        absent = api.request(
            method,
            template.format(dial_id=missing),
            json=payload,
            headers={"api_key": owner["apiKey"]},
        )
        assert_spec_error(absent, 404, "not_found")
        assert json.dumps(error).replace(dial_id, "ID") == json.dumps(
            absent.json()["error"]
        ).replace(missing, "ID")
        assert _state(api, real_redis, namespace, owner["workspaceId"], job_id) == before
    own = api.get(f"/api/dials/{dial_id}", headers={"api_key": owner["apiKey"]})
    assert own.status_code == 200 and own.json()["dialId"] == dial_id


def test_another_workspace_cannot_touch_a_workspace_item(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """Another workspace's key on the owner's suppressed number: 404, nothing changed.

    The 404 is the answer the owner gets for a number not on its own list, so it tells
    nothing about another workspace's list.
    """
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    number, missing = "+12125550123", "+12125550124"
    producer.add_suppressions(owner["workspaceId"], [number], reason="owner's")
    before = snapshot(real_redis, namespace)
    for (method, template), payload in BY_API_KEY_WS_ITEM.items():
        for auth in ({"api_key": other["apiKey"]}, {"Authorization": f"Bearer {other['apiKey']}"}):
            path = template.format(number=number.replace("+", "%2B"))
            error = assert_spec_error(api.request(method, path, json=payload, headers=auth), 404)
            absent = api.request(
                method,
                template.format(number=missing.replace("+", "%2B")),
                json=payload,
                headers={"api_key": owner["apiKey"]},
            )
            assert_spec_error(absent, 404, "not_found")
            assert json.dumps(error).replace(number, "N") == json.dumps(
                absent.json()["error"]
            ).replace(missing, "N"), f"{method} {template}: a foreign item is told apart"
            assert snapshot(real_redis, namespace) == before, f"{method} {template} changed it"
    listed = api.get("/api/suppressions", headers={"api_key": other["apiKey"]}).json()
    assert listed == {"data": [], "nextCursor": None}


def test_another_workspace_cannot_touch_a_number_or_an_api_key(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """Another workspace's key on the owner's number (rest, change, delete) and API key
    (revoke): 404, the answer the owner gets for an id it does not have, and nothing
    changed; the owner's key still works."""
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    producer.api_keys.create(owner["workspaceId"])  # a second key: revoking one is allowed
    ids = {
        "number_id": owner["phoneNumbers"][0]["id"],
        "key_id": producer.api_keys.list(owner["workspaceId"])[0]["id"],
    }
    missing = {"number_id": "pn_000000000000", "key_id": "key_0000000000000000"}
    before = snapshot(real_redis, namespace)
    for (method, template), payload in BY_API_KEY_WS_RESOURCE.items():
        for auth in ({"api_key": other["apiKey"]}, {"Authorization": f"Bearer {other['apiKey']}"}):
            foreign = api.request(method, template.format(**ids), json=payload, headers=auth)
            error = assert_spec_error(foreign, 404, "not_found")
            absent = api.request(
                method,
                template.format(**missing),
                json=payload,
                headers={"api_key": owner["apiKey"]},
            )
            assert_spec_error(absent, 404, "not_found")
            text = json.dumps(error)
            for value in ids.values():
                text = text.replace(value, "ID")
            expected = json.dumps(absent.json()["error"])
            for value in missing.values():
                expected = expected.replace(value, "ID")
            assert text == expected, f"{method} {template}: a foreign item is told apart"
            assert snapshot(real_redis, namespace) == before, f"{method} {template} changed it"
    assert api.get("/api/workspace", headers={"api_key": owner["apiKey"]}).status_code == 200


def test_only_the_operator_key_reaches_the_admin_api(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """A workspace's API key (as Bearer or api_key, even on its own workspace) and a wrong
    operator key get 401 on every operator route and change nothing; the operator's
    key works."""
    api = secured_api
    owner = producer_of(api).workspaces.create("owner", 10, ["+12125550100"])
    ws_id = owner["workspaceId"]
    before = snapshot(real_redis, namespace)
    routes = [*BY_ADMIN_KEY.items(), (("GET", "/api/admin/workspaces"), None)]
    routes.append((("POST", "/api/admin/workspaces"), {"name": "x", "dialLimit": 5}))
    for (method, template), payload in routes:
        path = template.format(workspace_id=ws_id)
        for auth in (
            {"Authorization": f"Bearer {owner['apiKey']}"},
            {"api_key": owner["apiKey"]},
            {"Authorization": "Bearer not-the-operator-key"},
            {"api_key": ADMIN_KEY},
        ):
            response = api.request(method, path, json=payload, headers=auth)
            assert_spec_error(response, 401, "unauthorized")
            assert snapshot(real_redis, namespace) == before, f"{method} {template} changed it"
    ok = api.get("/api/admin/workspaces", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert ok.status_code == 200 and ws_id in [w["id"] for w in ok.json()["data"]]


def test_another_workspace_cannot_touch_a_webhook_endpoint(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """Another workspace's key on each route of the owner's endpoint: 404, the answer
    the owner gets for an endpoint that does not exist, and nothing changed (its secret
    is not rotated, nor the endpoint disabled or deleted)."""
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    # A public address literal: nothing resolves it, and no worker runs to call it.
    made = producer.webhooks.create(
        owner["workspaceId"], {"url": "https://93.184.216.34/hooks", "events": ["*"]}
    )
    webhook_id, missing = made["id"], "wh_" + secrets.token_hex(8)
    before = snapshot(real_redis, namespace)
    for (method, template), payload in BY_API_KEY_WEBHOOK.items():
        for auth in ({"api_key": other["apiKey"]}, {"Authorization": f"Bearer {other['apiKey']}"}):
            path = template.format(webhook_id=webhook_id, delivery_id="dlv_x")
            foreign = api.request(method, path, json=payload, headers=auth)
            error = assert_spec_error(foreign, 404, "not_found")
            absent = api.request(
                method,
                template.format(webhook_id=missing, delivery_id="dlv_x"),
                json=payload,
                headers={"api_key": owner["apiKey"]},
            )
            assert_spec_error(absent, 404, "not_found")
            assert json.dumps(error).replace(webhook_id, "ID") == json.dumps(
                absent.json()["error"]
            ).replace(missing, "ID"), f"{method} {template}: a foreign endpoint is told apart"
            assert snapshot(real_redis, namespace) == before, f"{method} {template} changed it"
    own = api.get(f"/api/webhooks/{webhook_id}", headers={"api_key": owner["apiKey"]})
    assert own.status_code == 200 and own.json()["enabled"] is True
    listed = api.get("/api/webhooks", headers={"api_key": other["apiKey"]}).json()
    assert listed["data"] == []


def test_another_workspace_reads_only_its_own_workspace_log(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """``GET /api/workspace/events`` (no id in its path) answers the caller's own log:
    the owner's webhook.disabled is not in another workspace's, in either header form."""
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    log = producer.keys.ws_key(owner["workspaceId"], "K_WH_LOG")
    real_redis.xadd(log, {"e": json.dumps({"type": "webhook.disabled", "webhookId": "wh_1"})})
    own = api.get("/api/workspace/events", headers={"api_key": owner["apiKey"]}).json()
    assert [e["type"] for e in own["data"]] == ["webhook.disabled"]
    for auth in ({"api_key": other["apiKey"]}, {"Authorization": f"Bearer {other['apiKey']}"}):
        theirs = api.get("/api/workspace/events", headers=auth).json()
        assert theirs == {"data": [], "nextCursor": None}


def test_an_api_key_alone_never_ends_a_dial(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """The status callback takes the provider's signature only: API keys are refused (401).

    Neither the owner's key nor another workspace's, in either header form, nor a
    signature made with another secret, ends the dial; the provider's signature does.
    """
    api = secured_api
    producer = producer_of(api)
    owner = producer.workspaces.create("owner", 10, ["+12125550100"])
    other = producer.workspaces.create("other", 10, ["+14155550100"])
    live = start_one_dial(real_redis, producer, owner)
    job_id, dial_id, owner_ws = live["job_id"], live["dial_id"], owner["workspaceId"]
    before = _state(api, real_redis, namespace, owner_ws, job_id)
    ((method, template), payload), *_ = BY_SIGNATURE.items()
    path = template.format(dial_id=dial_id)
    body = json.dumps(payload).encode()
    attempts = {
        "owner api_key": {"api_key": owner["apiKey"]},
        "owner bearer": {"Authorization": f"Bearer {owner['apiKey']}"},
        "other api_key": {"api_key": other["apiKey"]},
        "owner api_key + signature of another secret": {
            "api_key": owner["apiKey"],
            SIGNATURE_HEADER: sign("not-the-secret", dial_id, body),
        },
        "api key as the signature secret": {SIGNATURE_HEADER: sign(owner["apiKey"], dial_id, body)},
    }
    for label, headers in attempts.items():
        response = api.request(
            method, path, content=body, headers={"content-type": "application/json", **headers}
        )
        assert_spec_error(response, 401, "unauthorized")
        after = _state(api, real_redis, namespace, owner_ws, job_id)
        assert after == before, f"{label} changed the dial"

    signed = api.request(
        method,
        path,
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(SECRET, dial_id, body)},
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["changed"] is True
