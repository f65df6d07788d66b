"""The page's webhooks view in real headless Chromium (issue 16): the workspace's
endpoints and their recent deliveries, the secret never shown."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from playwright.sync_api import Page, expect

from domain.keys import Keys
from producer.webhooks import Webhooks
from tests.browser.test_page import _always, _create, sign_in
from worker.engine.loop import EventLoop
from worker.webhooks.delivery import WebhookDelivery

pytestmark = [pytest.mark.redis, pytest.mark.e2e]


def test_the_webhooks_view_lists_endpoints_and_their_recent_attempts(
    api_base: str, page: Page, account: dict[str, Any], real_redis: redis.Redis, namespace: str
) -> None:
    """An endpoint with one failed attempt shows its URL, filter, state and the attempt
    (event, outcome, HTTP status); its secret appears nowhere on the page."""
    keys = Keys(namespace)
    ws_id = account["workspaceId"]
    # Created in process, with a resolver that answers a public address: nothing is
    # resolved or sent by this test.
    hooks = Webhooks(real_redis, keys, resolver=lambda _host: ["93.184.216.34"])
    hook = hooks.create(
        ws_id, {"url": "https://crm.example/hooks", "events": ["job.*"], "description": "CRM"}
    )
    _create(api_base, account, _always(account, rows=1, cap=1, name="One"))
    delivery = WebhookDelivery(real_redis, keys, EventLoop(), lambda: None)
    delivery.fanout.run(ws_id)
    did = str(real_redis.zrange(keys.ws_key(ws_id, "k_wh_q", hook["id"]), 0, 0)[0])
    delivery.record(ws_id, did, hook["id"], False, 503, 42, "HTTP 503")

    sign_in(page, api_base, account["apiKey"])
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    card = page.locator(f"section[data-webhook-id='{hook['id']}']")
    expect(card).to_contain_text("CRM")
    expect(card).to_contain_text("https://crm.example/hooks")
    expect(card).to_contain_text("Events: job.*")
    expect(card).to_contain_text("job.created")
    expect(card).to_contain_text("retrying")
    expect(card).to_contain_text("HTTP 503")
    assert hook["secret"] not in page.content()
