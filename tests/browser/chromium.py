"""Where Debian's Chromium is and the flags that keep it headless and off the network;
shared by the browser tests and ``scripts/screenshots``."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("BATCHDIAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
