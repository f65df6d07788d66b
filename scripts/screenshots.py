"""Regenerates docs/screenshots/*.png: the Batch Dials page of ``batchdial demo --serve``.

Runs the demo (in-process Redis, no server needed) on a free port, drives Debian's
Chromium with Playwright (no browser download), saves the pictures, and stops the demo
it started. Not part of the test run. Usage: scripts/screenshots
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project's tests importable
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
BAD_CSV = (
    "toNumber,customer_name,account_id\n"
    "+12125550201,Ada Lovelace,ACC1\n"
    '+12125550202,"Hopper, Grace",ACC2\n'
    "+1234567890,Alan Turing,ACC3\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_demo(port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``batchdial demo --serve`` in the background; returns it and its API key."""
    command = ["demo", "--serve", "--port", str(port), "--rows", "100", "--call-seconds", "1.5"]
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 -- our own command, no shell
            [sys.executable, "-m", "batchdial", *command],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"API key:\s+(\S+)", log.read_text())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"the demo exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("the demo did not print its key in time")


def _shots(page: Page, base: str, key: str) -> None:
    page.goto(base + "/")
    page.screenshot(path=OUT / "sign-in.png")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Open my jobs").click()
    page.get_by_role("link", name="Demo follow-up (start me)").click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".badge")).to_have_text("ACTIVE")
    time.sleep(12)  # let the chart and the log fill
    page.get_by_text("Edit cap and schedule").click()
    page.get_by_label("Most calls at once").fill("2")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".notice")).to_be_visible()
    time.sleep(1)
    # The header is sticky: a full-page picture taken scrolled down would draw it there.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=OUT / "job.png", full_page=True)
    page.goto(base + "/#/jobs")
    expect(page.get_by_role("link", name="Demo survey")).to_be_visible()
    page.screenshot(path=OUT / "jobs.png")
    page.goto(base + "/#/new")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "survey.csv", "mimeType": "text/csv", "buffer": BAD_CSV.encode()}]
    )
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#create-problems li")).to_have_count(1)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=OUT / "csv-error.png", full_page=True)
    time.sleep(6.5)  # the last message fades before the next picture
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/#/jobs")
    expect(page.get_by_role("link", name="Demo survey")).to_be_visible()
    page.screenshot(path=OUT / "phone.png")


def main() -> int:
    """Take the screenshots; returns an exit code."""
    OUT.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bd-shots-") as tmp:
        proc, key = _start_demo(port, Path(tmp) / "demo.log")
        try:
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    str(Path(tmp) / "profile"),
                    executable_path=CHROMIUM,
                    headless=True,
                    args=CHROMIUM_ARGS,
                    viewport={"width": 1280, "height": 860},
                )
                try:
                    _shots(context.new_page(), f"http://127.0.0.1:{port}", key)
                finally:
                    context.close()
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
    for path in sorted(OUT.glob("*.png")):
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
