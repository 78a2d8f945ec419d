"""Debian's Chromium for browser tests, driven by Playwright through ``executable_path``
(Playwright's own browser download is never used: it needs the internet)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

requires_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Chromium is missing (make test installs Debian's)"
)
