"""The page's CSV preview in real headless Chromium: it reads a file's columns as the
API does (row fields apart from inputs), and previews a large file from its head while
counting its rows in slices, never reading the whole file at once (issue 17)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import FilePayload, Page, expect

from producer.rowformats import csv_items
from tests.browser.test_page import sign_in

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

CSV_WITH_ROW_FIELDS = (
    "toNumber,externalId,customer_name,consent,state,consentCapturedAt,note\r\n"
    '+12125550101,crm-1,"Doe, Jane",express_written,NY,2026-11-01T10:00:00Z,hi\r\n'
    "+12125550102,crm-2,Bob,,,,\r\n"
    '+12125550103,,Carol,express,CA,,"two\nlines"\r\n'
)

# What the page records of its reads of files (Blob and File share these methods).
SPY = """
window.reads = [];
for (const method of ["text", "arrayBuffer", "stream", "bytes"]) {
  const original = Blob.prototype[method];
  if (!original) continue;
  Blob.prototype[method] = function (...args) {
    window.reads.push({ method, size: this.size });
    return original.apply(this, args);
  };
}
"""


def _open_create(page: Page, base: str, key: str) -> None:
    sign_in(page, base, key)
    page.get_by_role("link", name="New job from CSV").first.click()
    expect(page.get_by_role("heading", name="New job from a CSV file")).to_be_visible()


def _choose(page: Page, name: str, text: str) -> None:
    page.get_by_label("CSV file").set_input_files(
        files=[FilePayload(name=name, mimeType="text/csv", buffer=text.encode())]
    )


def _headers(page: Page, kind: str) -> list[str]:
    cells = page.locator(f".preview th[data-kind={kind}]")
    return [t.strip() for t in cells.all_inner_texts()]


def _send(page: Page, ws: dict[str, Any]) -> None:
    page.get_by_label("Call agent id").fill("agent-7")
    page.get_by_label("Caller-ID number ids (comma-separated)").fill(ws["phoneNumbers"][0]["id"])
    page.get_by_label("Dial at any time (no schedule)").check()
    page.get_by_role("button", name="Create job").click()


def test_row_field_columns_are_shown_as_row_fields_and_read_as_the_api_reads_them(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """externalId, consent, state (and the consent's time) are row fields in the preview,
    in columns of their own; only the other columns are inputs; the page's rows are the
    API's reader's rows, field for field; the job made from the file has them so."""
    _open_create(page, api_base, account["apiKey"])
    _choose(page, "crm.csv", CSV_WITH_ROW_FIELDS)
    expect(page.locator(".preview-count")).to_have_text(
        "3 rows; row fields: externalId, consent, state, consentCapturedAt; "
        "inputs: customer_name, note."
    )
    fields = ["toNumber", "externalId", "consent", "state", "consentCapturedAt"]
    assert _headers(page, "field") == fields
    assert _headers(page, "input") == ["customer_name", "note"]
    expect(page.locator(".preview th[data-kind=fields]")).to_have_text("Row fields")
    expect(page.locator(".preview th[data-kind=inputs]")).to_have_text("Inputs")
    first = page.locator(".preview tbody tr").first.locator("td").all_inner_texts()
    assert first == [
        "2",
        *("+12125550101", "crm-1", "express_written", "NY", "2026-11-01T10:00:00Z"),
        *("Doe, Jane", "hi"),
    ]

    # The page's module reads the file into the rows the API's reader makes of it.
    page_rows = page.evaluate(
        "async (text) => (await import('/assets/csv.js')).rowsFromCsv(text).rows",
        CSV_WITH_ROW_FIELDS,
    )
    api_rows = [item.data for item in csv_items(iter([CSV_WITH_ROW_FIELDS.encode()]))]
    assert page_rows == api_rows
    assert page_rows[0]["inputs"] == {"customer_name": "Doe, Jane", "note": "hi"}

    _send(page, account)
    expect(page.get_by_role("heading", name="crm")).to_be_visible()
    headers = {"api_key": account["apiKey"]}
    (job,) = httpx.get(f"{api_base}/api/batch_dial_jobs", headers=headers).json()["data"]
    assert job["counts"]["rows"] == 3
    results = httpx.get(f"{api_base}/api/batch_dial_jobs/{job['id']}/results", headers=headers)
    lines = [json.loads(line) for line in results.text.splitlines()]
    assert [(r["externalId"], r["inputs"]) for r in lines] == [
        ("crm-1", {"customer_name": "Doe, Jane", "note": "hi"}),
        ("crm-2", {"customer_name": "Bob", "note": ""}),
        (None, {"customer_name": "Carol", "note": "two\nlines"}),
    ]


def _large_csv(rows: int, bad_row: int) -> tuple[str, int]:
    """A CSV of ``rows`` rows (a few MB), every 1000th with a note over two lines and a
    blank line after it; row ``bad_row`` (from 1) has a number too short. Returns the
    text and the line the bad row starts on."""
    out = ["toNumber,externalId,customer_name,note\n"]
    line = 2
    bad_line = 0
    for i in range(1, rows + 1):
        number = "+1234567890" if i == bad_row else f"+1212555{100 + i % 100:04d}"
        if i == bad_row:
            bad_line = line
        if i % 1000 == 0:
            out.append(f'{number},ext-{i},Customer {i},"a note\nover two lines"\n\n')
            line += 3
        else:
            out.append(f"{number},ext-{i},Customer {i},a note of some length for row {i}\n")
            line += 1
    return "".join(out), bad_line


@pytest.mark.timeout(300)
def test_a_large_file_is_previewed_from_its_head_and_its_rows_counted_in_slices(
    api_base: str, page: Page, account: dict[str, Any]
) -> None:
    """A 4 MB file: the preview reads its first 256 KiB, counts its rows (blank lines
    skipped, quoted line breaks inside a row) by reading 1 MiB slices, and no read of the
    page holds the file; a bad row far past the preview is shown by its file line."""
    rows, bad_row = 60_000, 55_000
    text, bad_line = _large_csv(rows, bad_row)
    size = len(text.encode())
    assert size > 3 * 1024 * 1024
    page.add_init_script(SPY)
    _open_create(page, api_base, account["apiKey"])
    _choose(page, "big.csv", text)
    expect(page.locator(".preview-count")).to_have_text(
        "60,000 rows; row fields: externalId; inputs: customer_name, note.", timeout=60_000
    )
    assert _headers(page, "field") == ["toNumber", "externalId"]
    expect(page.locator(".preview tbody tr")).to_have_count(5)
    reads: list[dict[str, Any]] = page.evaluate("window.reads")
    assert reads, "the page read the file with none of Blob's methods"
    assert all(r["size"] <= 1024 * 1024 for r in reads), reads
    text_reads = [r for r in reads if r["method"] == "text"]
    assert text_reads == [{"method": "text", "size": 256 * 1024}]
    # The count read the file once, slice by slice.
    slices = [r for r in reads if r["method"] == "arrayBuffer"]
    assert len(slices) == -(-size // (1024 * 1024))

    _send(page, account)
    problems = page.locator("#create-problems")
    expect(problems).to_contain_text("Nothing was stored: 1 problem(s) to fix", timeout=120_000)
    item = problems.locator("li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"line {bad_line} (row {bad_row}), toNumber:")
    assert not re.search(r"line \d+: line", item.inner_text())
    # Sending streamed the file: no read of the page held it.
    assert all(r["size"] <= 1024 * 1024 for r in page.evaluate("window.reads"))
    headers = {"api_key": account["apiKey"]}
    assert httpx.get(f"{api_base}/api/batch_dial_jobs", headers=headers).json()["data"] == []
