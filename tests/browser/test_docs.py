"""The documentation pages render in a real Chromium from this origin's files alone,
under their Content-Security-Policy (no request leaves the API, nothing is refused)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", ".opblock"), ("/redoc", "[data-section-id^='operation']")],
)
def test_docs_render_from_this_origin_under_their_csp(
    page: Any, api_base: str, path: str, operation: str
) -> None:
    """Swagger UI and ReDoc list the API's operations; every request the page made went
    to the API's own origin, and the console shows no CSP refusal."""
    from playwright.sync_api import expect

    origin = urlsplit(api_base).netloc
    requested: list[str] = []
    console: list[str] = []
    # What reached the network (a request the CSP refused never does).
    page.on("response", lambda response: requested.append(response.url))
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{api_base}{path}")
    expect(page.locator(operation).first).to_be_visible()
    assert page.locator(operation).count() >= 10
    foreign = [
        u
        for u in requested
        if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != origin
    ]
    assert not foreign, foreign
    # ReDoc's footer names its maker with a logo from its CDN: the CSP refuses that image
    # (and only that); any other refusal would be a part of the page that cannot work.
    refused = [
        m
        for m in console
        if ("Content Security Policy" in m or "Refused" in m) and "cdn.redoc.ly" not in m
    ]
    assert not refused, (refused, console)
