"""``preDialWebhook`` through the API on a real Redis (issue 16): validated at create and
update as endpoint URLs are (field path ``preDialWebhook.url``, loopback refused
without ``BATCHDIAL_WEBHOOK_ALLOW_PRIVATE``: nothing is resolved or sent), the secret
that signs its requests answered by the commands only and kept across updates, staged
on an ACTIVE job as other configuration is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.keys import Keys
from producer.http.app import create_app
from producer.service import Producer
from producer.webhooks import Webhooks
from tests.support.bodies import job_body
from tests.support.http import assert_error, h

JOBS = "/api/batch_dial_jobs"
HOOK = {"url": "https://hooks.example/pre", "timeoutMs": 1500, "onTimeout": "skip"}


@pytest.fixture
def api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    """Private destinations refused; names resolve without any lookup."""
    app = create_app(real_redis, namespace)
    producer: Producer = app.state.producer

    def resolve(host: str) -> list[str]:
        if host in ("localhost", "loopback.test"):
            return ["127.0.0.1"]
        if host[0].isdigit() or ":" in host:
            return [host.strip("[]")]
        return ["93.184.216.34"]

    producer.webhooks = Webhooks(real_redis, Keys(namespace), resolver=resolve)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def ws(api: TestClient) -> dict[str, Any]:
    producer: Producer = api.app.state.producer  # type: ignore[attr-defined]
    return producer.workspaces.create("ws", 5, ["+12125550100"])


def test_the_hook_is_stored_and_its_secret_shown_by_the_commands_only(
    api: TestClient, ws: dict[str, Any]
) -> None:
    created = api.post(JOBS, json=job_body(ws, 2, preDialWebhook=HOOK), headers=h(ws))
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["preDialWebhook"] == HOOK
    secret = job["preDialSecret"]
    assert secret.startswith("whsec_")
    url = f"{JOBS}/{job['id']}"
    read = api.get(url, headers=h(ws)).json()
    assert read["preDialWebhook"] == HOOK and "preDialSecret" not in read
    listed = api.get(JOBS, headers=h(ws)).json()["data"][0]
    assert "preDialSecret" not in listed
    changed = {**HOOK, "onTimeout": "defer"}
    updated = api.put(url, json={"preDialWebhook": changed}, headers=h(ws)).json()
    assert updated["preDialWebhook"] == changed
    assert updated["preDialSecret"] == secret, "a job keeps its secret"
    defaults = api.put(url, json={"preDialWebhook": {"url": HOOK["url"]}}, headers=h(ws)).json()
    assert defaults["preDialWebhook"] == {
        "url": HOOK["url"],
        "timeoutMs": 3000,
        "onTimeout": "dial",
    }
    removed = api.put(url, json={"preDialWebhook": None}, headers=h(ws)).json()
    assert removed["preDialWebhook"] is None


def test_a_job_without_a_hook_gets_a_secret_when_one_is_set(
    api: TestClient, ws: dict[str, Any]
) -> None:
    job = api.post(JOBS, json=job_body(ws, 2, schedule=None), headers=h(ws)).json()
    assert job["preDialWebhook"] is None and "preDialSecret" not in job
    url = f"{JOBS}/{job['id']}"
    api.post(f"{url}/paused", json={"paused": False}, headers=h(ws)).raise_for_status()
    staged = api.put(url, json={"preDialWebhook": HOOK}, headers=h(ws)).json()
    assert staged["status"] in ("ACTIVE", "COMPLETE")
    if staged["status"] == "ACTIVE":
        assert staged["pendingConfig"]["preDialWebhook"] == HOOK
        assert "predialSecret" not in str(staged["pendingConfig"])
    assert staged["preDialSecret"].startswith("whsec_")


@pytest.mark.parametrize(
    ("hook", "path", "words"),
    [
        ({**HOOK, "url": "http://hooks.example/pre"}, "preDialWebhook.url", "https://"),
        ({**HOOK, "url": "https://127.0.0.1/pre"}, "preDialWebhook.url", "not a public"),
        ({**HOOK, "url": "https://[::1]/pre"}, "preDialWebhook.url", "not a public"),
        ({**HOOK, "url": "https://localhost/pre"}, "preDialWebhook.url", "not a public"),
        ({**HOOK, "url": "https://loopback.test/pre"}, "preDialWebhook.url", "not a public"),
        ({**HOOK, "timeoutMs": 50}, "preDialWebhook.timeoutMs", ""),
        ({**HOOK, "timeoutMs": 20_000}, "preDialWebhook.timeoutMs", ""),
        ({**HOOK, "onTimeout": "call"}, "preDialWebhook.onTimeout", ""),
        ({**HOOK, "secret": "mine"}, "preDialWebhook.secret", ""),
        ({"timeoutMs": 500}, "preDialWebhook.url", ""),
    ],
)
def test_a_bad_hook_is_refused_naming_its_field_at_create_and_update(
    api: TestClient, ws: dict[str, Any], hook: dict[str, Any], path: str, words: str
) -> None:
    refused = api.post(JOBS, json=job_body(ws, 2, preDialWebhook=hook), headers=h(ws))
    details = assert_error(refused, 422)["details"]
    assert [d["path"] for d in details] == [path], details
    assert words in details[0]["message"]
    job = api.post(JOBS, json=job_body(ws, 2), headers=h(ws)).json()
    url = f"{JOBS}/{job['id']}"
    details = assert_error(api.put(url, json={"preDialWebhook": hook}, headers=h(ws)), 422)[
        "details"
    ]
    assert [d["path"] for d in details] == [path], details
    assert api.get(url, headers=h(ws)).json()["preDialWebhook"] is None
