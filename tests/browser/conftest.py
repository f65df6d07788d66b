"""Real headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright's Python
package, against a real ``batchdial api`` and real workers on the real Redis.

Nothing downloads a browser: Playwright is pointed at the system Chromium, with the
flags that keep it off the network; one Chromium serves the package's tests, each in
a fresh browser context (its own cookies, storage and cache). Without Chromium
the tests skip with the reason (``scripts/test`` installs it when run as root); under
``CI=true`` a missing Chromium fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.workspaces import Workspaces
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.procs import api_server, env_for
from tests.support.redis_server import REDIS_URL


def _chromium_or_skip() -> str:
    reason = ""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium; scripts/test does as root)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright's Python package is missing (it is in requirements.lock)"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs the browser tests: {reason}")
        pytest.skip(reason)
    return CHROMIUM


class _Chromium:
    """One headless Chromium for the browser package, started again if it went away."""

    def __init__(self, playwright: Any, executable: str) -> None:
        self.playwright = playwright
        self.executable = executable
        self.browser: Any = None

    def get(self) -> Any:
        """The running browser (launched on first use, or again after a crash)."""
        if self.browser is None or not self.browser.is_connected():
            self.browser = self.playwright.chromium.launch(
                executable_path=self.executable, headless=True, args=CHROMIUM_ARGS
            )
        return self.browser

    def close(self) -> None:
        if self.browser is not None and self.browser.is_connected():
            self.browser.close()


@pytest.fixture(scope="package")
def chromium() -> Iterator[_Chromium]:
    """Chromium, launched once for the browser tests (about a second each saved);
    each test gets a context of its own (see ``page``)."""
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        shared = _Chromium(playwright, executable)
        try:
            yield shared
        finally:
            shared.close()


@pytest.fixture
def page(chromium: _Chromium) -> Iterator[Any]:
    """A page in a new browser context (a fresh profile: no cookies, storage or cache of
    another test); fails the test on a script error."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    errors: list[str] = []
    context = chromium.get().new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"


@pytest.fixture
def env(real_redis: redis.Redis, namespace: str) -> dict[str, str]:
    """The environment of the test's own batchdial processes (its namespace, short calls)."""
    return env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_SIMULATED_CALL_SECONDS="0.5",
        BATCHDIAL_SIMULATED_OUTCOMES="completed=70,no-answer=20,busy=10",
        BATCHDIAL_LOG_LEVEL="WARNING",
    )


@pytest.fixture
def account(real_redis: redis.Redis, namespace: str) -> dict[str, Any]:
    """A workspace of the test's namespace: dial limit 10, two pool numbers."""
    from domain.keys import Keys

    return Workspaces(real_redis, Keys(namespace)).create(
        "Browser Co", 10, ["+12125550100", "+14155550100"]
    )


@pytest.fixture
def api_base(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A real ``batchdial api`` process of the test's namespace."""
    with api_server(env, tmp_path / "api.log") as base:
        yield base
