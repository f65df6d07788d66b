"""The page items of issue 18 in real headless Chromium: times in the job's zone and the
viewer's, the cap drawn as it was, finished jobs not "open now", a new job proposing
business hours, a forecast, and status messages that cover nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_page import sign_in
from tests.support.bodies import job_body

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

NY = "America/New_York"


def _post(base: str, ws: dict[str, Any], path: str, body: Any = None) -> dict[str, Any]:
    answer = httpx.post(f"{base}{path}", json=body, headers={"api_key": ws["apiKey"]}, timeout=10)
    assert answer.status_code in {200, 201}, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _business_hours_job(base: str, ws: dict[str, Any], name: str) -> dict[str, Any]:
    body = job_body(ws, rows=3, name=name)
    body["schedule"] = {
        "days": [
            {"dayOfWeek": d, "timeSlots": [{"startTime": "09:00", "endTime": "17:00"}]}
            for d in range(1, 6)
        ],
        "timezone": NY,
    }
    return _post(base, ws, "/api/batch_dial_jobs", body)


def test_times_in_both_zones_a_forecast_and_a_cancelled_job(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """A New York job shows its window in New York time and the viewer's, and a forecast
    with its assumptions; once cancelled, it is neither "open now" nor "none yet"."""
    job = _business_hours_job(api_base, account, "New York hours")
    sign_in(page, api_base, account["apiKey"])
    viewer = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    page.get_by_role("link", name="New York hours").click()
    window = page.locator("dt:text-is('Window') + dd")
    expect(window).to_contain_text(" E")  # EST or EDT: the job's zone is named
    if viewer != NY:
        expect(window).to_contain_text("your time")
    finish = page.locator("[data-forecast]")
    expect(finish).to_contain_text("(if the job is started now)")
    expect(finish).to_contain_text("calls 60 s (default)")

    _post(api_base, account, f"/api/batch_dial_jobs/{job['id']}/cancel")
    expect(page.locator(".badge")).to_have_text("CANCELLED")
    expect(window).to_have_text("— (the job was cancelled)")
    outcomes = page.locator("dt:text-is('Outcomes') + dd")
    expect(outcomes).to_have_text("none (cancelled before any call ended)")
    expect(page.locator("[data-forecast]")).to_have_count(0)
    page.get_by_role("link", name="← All jobs").click()
    row = page.locator(f"tr[data-job-id='{job['id']}']")
    expect(row).to_contain_text("— (the job was cancelled)")


def test_the_chart_draws_the_cap_as_it_was_and_messages_cover_nothing(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """A cap lowered from 5 to 2 draws 5 before the change and 2 after; the status message
    of an action sits in the header, clear of every part of the page's content."""
    body = job_body(account, rows=20, cap=5, name="Cap change")
    body.pop("schedule")
    job = _post(api_base, account, "/api/batch_dial_jobs", body)
    path = f"/api/batch_dial_jobs/{job['id']}"
    _post(api_base, account, path + "/paused", {"paused": False})
    put = httpx.put(
        f"{api_base}{path}",
        json={"maxConcurrentDials": 2},
        headers={"api_key": account["apiKey"]},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    _post(api_base, account, path + "/paused", {"paused": True})  # applies the cap 2

    sign_in(page, api_base, account["apiKey"])
    page.get_by_role("link", name="Cap change").click()
    cap_line = page.locator("svg.chart path.cap")
    expect(cap_line).to_have_attribute("data-caps", "5,2")
    expect(page.locator("svg.chart text", has_text="cap 2")).to_have_count(1)

    page.get_by_role("button", name="Resume").click()
    toast = page.locator("#announce")
    expect(toast).to_have_text("Job resumed.")
    box = toast.bounding_box()
    header = page.locator("header.top").bounding_box()
    assert box is not None
    assert header is not None
    assert box["y"] >= header["y"]
    assert box["y"] + box["height"] <= header["y"] + header["height"]
    main = page.locator("main").bounding_box()
    assert main is not None
    assert main["y"] >= header["y"] + header["height"] - 1  # the header is above the content


def test_a_new_job_proposes_business_hours_in_the_viewer_s_zone(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """The CSV form starts with a schedule (Monday to Friday 09:00-17:00 in the browser's
    zone), not with "dial at any time" ticked."""
    sign_in(page, api_base, account["apiKey"])
    viewer = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    page.get_by_role("link", name="New job from CSV").first.click()
    expect(page.get_by_label("Dial at any time (no schedule)")).not_to_be_checked()
    expect(page.get_by_label("Monday")).to_have_value("09:00-17:00")
    expect(page.get_by_label("Saturday")).to_have_value("")
    expect(page.get_by_label("Time zone (IANA name)")).to_have_value(viewer)
