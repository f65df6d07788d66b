"""The Batch Dials page in real headless Chromium, against a real API and real workers.

Each test is what a user does: sign in with a key, watch a job progress and pause
it, upload a CSV with a bad row, follow the live event log across a dropped
connection, and cancel by keyboard on a phone-sized screen.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import FilePayload, Page, expect

from tests.support.bodies import job_body
from tests.support.procs import free_port, running
from tests.support.waits import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.e2e]


def _always(ws: dict[str, Any], rows: int, cap: int, name: str) -> dict[str, Any]:
    body = job_body(ws, rows=rows, name=name, maxConcurrentDials=cap)
    body["fromPhoneNumberIds"] = [p["id"] for p in ws["phoneNumbers"]]
    body.pop("schedule")  # dial at any time: the test must not depend on the clock
    return body


def _create(base: str, ws: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{base}/api/batch_dial_jobs", json=body, headers={"api_key": ws["apiKey"]}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()
    return job


def _get(base: str, ws: dict[str, Any], path: str) -> Any:
    answer = httpx.get(f"{base}{path}", headers={"api_key": ws["apiKey"]}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def sign_in(page: Page, base: str, key: str) -> None:
    """Open the page and sign in with ``key``."""
    page.goto(base + "/")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Open my jobs").click()
    expect(page.get_by_role("heading", name="Batch dial jobs")).to_be_visible()


def _count(page: Page, name: str) -> int:
    return int(page.locator(f"[data-count={name}]").inner_text().split("/")[0].strip())


# The API fixture comes before the page in each signature: the browser (with its open
# event stream) is closed first, then the API stops.


def test_sign_in_watch_progress_pause_and_dials_stop(
    api_base: str, page: Page, account: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    """A user signs in, starts a job, sees progress move and events arrive, pauses it,
    sees PAUSED and no new dial starts; the key is in session storage only."""
    job = _create(api_base, account, _always(account, rows=300, cap=3, name="Spring survey"))
    page.goto(api_base + "/")
    page.get_by_label("API key", exact=True).fill("bd_not-a-key")
    page.get_by_role("button", name="Open my jobs").click()
    expect(page.locator("#login-error")).to_contain_text("not accepted")

    sign_in(page, api_base, account["apiKey"])
    row = page.locator(f"tr[data-job-id='{job['id']}']")
    expect(row).to_contain_text("Spring survey")
    expect(row).to_contain_text("INIT")
    expect(row).to_contain_text("0 / 300")
    assert page.evaluate("sessionStorage.getItem('batchdial.apiKey')") == account["apiKey"]
    assert page.evaluate("document.cookie") == ""
    assert account["apiKey"] not in page.url

    with running("worker", "--threads", "4", env=env, log=tmp_path / "worker.log"):
        row.get_by_role("link", name="Spring survey").click()
        expect(page.get_by_role("heading", name="Spring survey")).to_be_focused()
        expect(page.locator(".conn")).to_have_text("● live")
        page.get_by_role("button", name="Start").click()
        expect(page.locator(".badge")).to_have_text("ACTIVE")
        expect(page.get_by_role("status").filter(has_text="Job started.")).to_be_attached()
        # Progress moves: the finished counter goes up while the page is open.
        wait_for(lambda: _count(page, "finished") >= 3, 30, "three rows to finish")
        first = _count(page, "finished")
        wait_for(lambda: _count(page, "finished") > first, 30, "more rows to finish")
        # The live event log shows the dials as they happen (server-sent events).
        expect(page.locator(".log li[data-type='dial.finished']").first).to_be_visible()
        assert page.locator("svg.chart path.line").count() == 2

        # A change to a running job is staged until the next pause.
        page.get_by_text("Edit cap and schedule").click()
        expect(page.locator("#edit-note")).to_contain_text("staged")
        page.get_by_label("Most calls at once").fill("2")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator(".notice")).to_have_text(
            "Staged until the job is next paused: maxConcurrentDials 2."
        )

        page.get_by_role("button", name="Pause").click()
        expect(page.locator(".badge")).to_have_text("PAUSED")
        expect(page.locator(".notice")).to_be_hidden()
        expect(page.locator(".log li[data-type='job.paused']")).to_have_count(1)
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
        # Dials stop: the calls in progress end, and no new dial starts after that.
        expect(page.locator("[data-count=inProgress]")).to_have_text("0", timeout=20_000)
        path = f"/api/batch_dial_jobs/{job['id']}"
        dials = len(_get(api_base, account, path + "/dials?limit=500")["data"])
        time.sleep(1.5)  # a window in which a dial would start if pausing did not work
        assert len(_get(api_base, account, path + "/dials?limit=500")["data"]) == dials
        paused = _get(api_base, account, path)
        assert paused["status"] == "PAUSED"
        assert paused["maxConcurrentDials"] == 2
        assert paused["pendingConfig"] is None
        assert paused["counts"]["finished"] < 300
        expect(page.locator("[data-count=finished]")).to_have_text(
            f"{paused['counts']['finished']} / 300"
        )

        # The results download is the API's CSV export, row for row (the job is paused:
        # nothing changes between the two reads).
        with page.expect_download() as got:
            page.get_by_role("button", name="Download results (CSV)").click()
        assert got.value.suggested_filename == f"{job['id']}-results.csv"
        downloaded = Path(got.value.path()).read_bytes()
        exported = httpx.get(
            f"{api_base}{path}/results",
            headers={"api_key": account["apiKey"], "Accept": "text/csv"},
            timeout=10,
        )
        assert exported.status_code == 200 and downloaded == exported.content
        lines = downloaded.decode().splitlines()
        assert len(lines) == 301 and lines[0].startswith("rowId,")
        expect(page.get_by_role("status").filter(has_text="Results downloaded.")).to_be_attached()


CSV_WITH_A_BAD_ROW = (
    "toNumber,customer_name,note\r\n"
    '+12125550101,"Doe, Jane","says ""hi"""\r\n'
    "+12125550102,Bob,\r\n"
    '+1234567890,Carol,"two\nlines"\r\n'
    "+12125550104,Dan,ok\r\n"
)


def test_csv_upload_shows_the_bad_row_by_line_and_stores_nothing(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """A CSV with one bad number is refused with its file line named; nothing is stored;
    the fixed file creates the job, with quoted fields read as written."""
    sign_in(page, api_base, account["apiKey"])
    page.get_by_role("link", name="New job from CSV").first.click()
    expect(page.get_by_role("heading", name="New job from a CSV file")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(
        files=[
            FilePayload(name="survey.csv", mimeType="text/csv", buffer=CSV_WITH_A_BAD_ROW.encode())
        ]
    )
    expect(page.locator(".preview")).to_contain_text("4 rows; inputs: customer_name, note.")
    expect(page.get_by_label("Job name")).to_have_value("survey")
    page.get_by_label("Call agent id").fill("agent-7")
    pool = page.get_by_label("Caller-ID number ids (comma-separated)")
    # With no job yet, the pool offered is every number of the workspace, listed below.
    by_number = sorted(account["phoneNumbers"], key=lambda n: n["number"])
    expect(pool).to_have_value(", ".join(n["id"] for n in by_number))
    expect(page.locator("#new-pool-hint")).to_contain_text(account["phoneNumbers"][0]["number"])
    pool.fill(account["phoneNumbers"][0]["id"])
    page.get_by_label("Dial at any time (no schedule)").check()
    page.get_by_role("button", name="Create job").click()

    problems = page.locator("#create-problems")
    expect(problems).to_contain_text("Nothing was stored: 1 problem(s) to fix")
    # Row 3 starts on line 4 of the file (the header is line 1).
    expect(problems.locator("li")).to_have_count(1)
    expect(problems.locator("li")).to_contain_text("line 4 (row 3), toNumber:")
    expect(problems.locator("li")).to_contain_text("too short")
    expect(problems).to_be_focused()
    assert _get(api_base, account, "/api/batch_dial_jobs")["data"] == []

    fixed = CSV_WITH_A_BAD_ROW.replace("+1234567890", "+12125550103")
    page.get_by_label("CSV file").set_input_files(
        files=[FilePayload(name="survey.csv", mimeType="text/csv", buffer=fixed.encode())]
    )
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="survey")).to_be_visible()
    expect(page.locator(".badge")).to_have_text("INIT")
    (created,) = _get(api_base, account, "/api/batch_dial_jobs")["data"]
    assert created["counts"]["rows"] == 4
    assert created["callAgentId"] == "agent-7"
    queue = _get(api_base, account, f"/api/batch_dial_jobs/{created['id']}/queue")["data"]
    assert queue[0]["inputs"] == {"customer_name": "Doe, Jane", "note": 'says "hi"'}
    assert queue[2]["inputs"] == {"customer_name": "Carol", "note": "two\nlines"}


def test_event_log_reconnects_and_resumes_after_the_api_restarts(
    page: Page, env: dict[str, str], account: dict[str, Any], tmp_path: Path
) -> None:
    """The page's stream survives an API restart: it says so, reconnects, and shows each
    event once (resuming after the last event id it saw)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def api_up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with running("api", "--port", str(port), env=env, log=tmp_path / "api1.log") as first:
        wait_for(api_up, 30, "the API")
        job = _create(base, account, _always(account, rows=3, cap=1, name="Resume me"))
        sign_in(page, base, account["apiKey"])
        page.goto(f"{base}/#/jobs/{job['id']}")
        expect(page.locator(".conn")).to_have_text("● live")
        expect(page.locator(".log li")).to_have_count(1)  # job.created
        first.kill()  # the API dies with the stream open
        first.wait(timeout=10)
    # The API is gone: the page notices and keeps trying.
    expect(page.locator(".conn")).to_have_text("reconnecting…")
    with running("api", "--port", str(port), env=env, log=tmp_path / "api2.log"):
        wait_for(api_up, 30, "the API again")
        headers = {"api_key": account["apiKey"]}
        paused = f"{base}/api/batch_dial_jobs/{job['id']}/paused"
        assert httpx.post(paused, json={"paused": False}, headers=headers).status_code == 200
        assert httpx.post(paused, json={"paused": True}, headers=headers).status_code == 200
        expect(page.locator(".conn")).to_have_text("● live", timeout=30_000)
        expect(page.locator(".log li[data-type='job.paused']")).to_have_count(1)
        ids = page.locator(".log li").evaluate_all("items => items.map(i => i.dataset.id)")
        assert len(ids) == len(set(ids)) >= 3
        assert page.locator(".log li[data-type='job.created']").count() == 1
        page.goto("about:blank")  # close the stream before the API stops


def test_cancel_by_keyboard_with_confirmation_on_a_phone(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """On a phone-sized screen, the list fits the width; Cancel asks first (Escape keeps
    the job), then cancels; the edit form says an active job's change is staged."""
    job = _create(api_base, account, _always(account, rows=2, cap=1, name="Phone job"))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, api_base, account["apiKey"])
    expect(page.get_by_role("link", name="Phone job")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_role("link", name="Phone job").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Phone job")).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_text("Edit cap and schedule").click()
    expect(page.locator("#edit-note")).to_contain_text("applies at once")

    cancel = page.get_by_role("button", name="Cancel job…")
    cancel.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Cancel this job?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cancel).to_be_focused()
    assert _get(api_base, account, f"/api/batch_dial_jobs/{job['id']}")["status"] == "INIT"

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")  # from "Keep the job" (focused first) to "Cancel the job"
    expect(dialog.get_by_role("button", name="Cancel the job")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".badge")).to_have_text("CANCELLED")
    expect(page.get_by_role("status").filter(has_text="Job cancelled.")).to_be_attached()
    assert _get(api_base, account, f"/api/batch_dial_jobs/{job['id']}")["status"] == "CANCELLED"
