"""The page's numbers view in real headless Chromium (issue 19): each caller-ID number's
health over 24 hours and whether it rests, quarantined until when."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from playwright.sync_api import Page, expect

from domain.health import HOUR_MS
from domain.keys import Keys
from tests.browser.test_page import sign_in

pytestmark = [pytest.mark.redis, pytest.mark.e2e]


def test_the_numbers_view_shows_health_and_quarantine(
    api_base: str, page: Page, account: dict[str, Any], real_redis: redis.Redis, namespace: str
) -> None:
    """A number with 20 dials, 5 answered and 3 voicemails today reads 25 % / 15 %; a
    quarantined one says so with its end; another is in use with no dials yet."""
    keys = Keys(namespace)
    ws_id = account["workspaceId"]
    first, second = account["phoneNumbers"][:2]
    hour = (int(real_redis.time()[0]) * 1000) // HOUR_MS
    health = keys.ws_key(ws_id, "k_number_health", first["id"])
    real_redis.hset(health, mapping={f"{hour}:d": 20, f"{hour}:a": 5, f"{hour}:v": 3})
    numbers = keys.numbers(ws_id)
    stored = json.loads(str(real_redis.hget(numbers, first["id"])))
    until = int(time.time() * 1000) + 86_400_000
    real_redis.hset(numbers, first["id"], json.dumps({**stored, "rest": until}))

    sign_in(page, api_base, account["apiKey"])
    page.get_by_role("link", name="Numbers").click()
    expect(page.get_by_role("heading", name="Caller-ID numbers")).to_be_visible()
    row = page.locator(f"tr[data-number-id='{first['id']}']")
    expect(row).to_contain_text(first["number"])
    expect(row).to_contain_text("quarantined")
    expect(row).to_contain_text("25 %")
    expect(row).to_contain_text("15 %")
    other = page.locator(f"tr[data-number-id='{second['id']}']")
    expect(other).to_contain_text("in use")
    expect(other).to_contain_text("—")
