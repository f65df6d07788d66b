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


def _cap_change_job(base: str, ws: dict[str, Any]) -> dict[str, Any]:
    """A job started at cap 5, lowered to 2 while ACTIVE and paused (which applies it)."""
    body = job_body(ws, rows=20, cap=5, name="Cap change")
    body.pop("schedule")
    job = _post(base, ws, "/api/batch_dial_jobs", body)
    path = f"/api/batch_dial_jobs/{job['id']}"
    _post(base, ws, path + "/paused", {"paused": False})
    put = httpx.put(
        f"{base}{path}",
        json={"maxConcurrentDials": 2},
        headers={"api_key": ws["apiKey"]},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    _post(base, ws, path + "/paused", {"paused": True})
    return job


def test_zones_forecast_finished_jobs_the_cap_over_time_defaults_and_messages(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """The CSV form proposes business hours in the viewer's zone; a New York job shows its
    window in New York time and the viewer's, and a forecast with its assumptions; once
    cancelled it is neither "open now" nor "none yet"; a cap lowered from 5 to 2 is drawn
    5 then 2; an action's status message sits in the header, clear of the content."""
    ny_job = _business_hours_job(api_base, account, "New York hours")
    _cap_change_job(api_base, account)
    sign_in(page, api_base, account["apiKey"])
    viewer = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")

    page.get_by_role("link", name="New job from CSV").first.click()
    expect(page.get_by_label("Dial at any time (no schedule)")).not_to_be_checked()
    expect(page.get_by_label("Monday")).to_have_value("09:00-17:00")
    expect(page.get_by_label("Saturday")).to_have_value("")
    expect(page.get_by_label("Time zone (IANA name)")).to_have_value(viewer)

    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="New York hours").click()
    window = page.locator("dt:text-is('Window') + dd")
    expect(window).to_contain_text(" E")  # EST or EDT: the job's zone is named
    if viewer != NY:
        expect(window).to_contain_text("your time")
    finish = page.locator("[data-forecast]")
    expect(finish).to_contain_text("(if the job is started now)")
    expect(finish).to_contain_text("calls 60 s (default)")
    _post(api_base, account, f"/api/batch_dial_jobs/{ny_job['id']}/cancel")
    expect(page.locator(".badge")).to_have_text("CANCELLED")
    expect(window).to_have_text("— (the job was cancelled)")
    outcomes = page.locator("dt:text-is('Outcomes') + dd")
    expect(outcomes).to_have_text("none (cancelled before any call ended)")
    expect(page.locator("[data-forecast]")).to_have_count(0)
    page.get_by_role("link", name="← All jobs").click()
    expect(page.locator(f"tr[data-job-id='{ny_job['id']}']")).to_contain_text(
        "— (the job was cancelled)"
    )

    page.get_by_role("link", name="Cap change").click()
    expect(page.locator("svg.chart path.cap")).to_have_attribute("data-caps", "5,2")
    expect(page.locator("svg.chart text", has_text="cap 2")).to_have_count(1)
    page.get_by_role("button", name="Resume").click()
    toast = page.locator("#announce")
    expect(toast).to_have_text("Job resumed.")
    box = toast.bounding_box()
    header = page.locator("header.top").bounding_box()
    main = page.locator("main").bounding_box()
    assert box is not None
    assert header is not None
    assert main is not None
    assert box["y"] >= header["y"]
    assert box["y"] + box["height"] <= header["y"] + header["height"]
    assert main["y"] >= header["y"] + header["height"] - 1  # the header is above the content
