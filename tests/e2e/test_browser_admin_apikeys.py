"""Making an API key in a real browser (Debian's Chromium through Playwright) against the server
subprocess: an administrator, enrolling an authenticator app at first sign-in, searches for the
owner, picks it, ticks the scopes offered, creates the key, sees it once and finds it again with
the list's search. Each new page is saved at 1280 px and 390 px under tests/artifacts/admin/
(git-ignored), checked for horizontal overflow at 390 px and for WCAG 2.1 AA (axe-core, light
and dark, visible focus)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PASSWORD
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.e2e.test_browser_mfa import enrol_admin
from tests.e2e.test_browser_sign_in import screenshots
from tests.server_process import ServerProcess

pytestmark = requires_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "admin"
WIDTHS = {"desktop": 1280, "phone": 390}


def test_an_administrator_searches_an_owner_and_makes_it_a_key(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "root@example.com", "--role", "admin", "--password-stdin",
               input=PASSWORD + "\n")  # fmt: skip
    server.cli("roles", "create", "exporters", "--scope", "keys:read", "--scope", "audit:read")
    server.cli("clients", "create", "--name", "Billing Robot", "--role", "exporters")
    server.cli("clients", "create", "--name", "Other service")
    base = server.issuer
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTHS["desktop"], "height": 900})
            page.set_default_timeout(15000)

            # First sign-in of an admin: enrol an authenticator app before anything else.
            enrol_admin(page, base, "root@example.com")

            # Step 1: search for the owner.
            page.goto(base + "/admin/apikeys")
            page.get_by_role("link", name="Create API key").click()
            expect(page.get_by_text("Step 1 of 2")).to_be_visible()
            screenshots(page, ARTIFACTS, "apikey-owner")
            page.get_by_label("Find the owner").fill("robot")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_role("link", name="Billing Robot")).to_be_visible()
            expect(page.get_by_role("link", name="Other service")).to_have_count(0)
            screenshots(page, ARTIFACTS, "apikey-owner-results")

            # Step 2: only what the owner holds (and the admin may confer) is offered.
            page.get_by_role("link", name="Billing Robot").click()
            expect(page.get_by_text("Step 2 of 2")).to_be_visible()
            scopes = page.get_by_role("group", name="Scopes").get_by_role("checkbox")
            expect(scopes).to_have_count(2)
            screenshots(page, ARTIFACTS, "apikey-new")
            page.get_by_label("keys:read", exact=True).check()
            page.get_by_label("Name").fill("nightly export")
            page.get_by_label("Expires in").fill("10d")
            page.get_by_label("Rate limit").fill("5/second")
            page.get_by_role("button", name="Create API key").click()

            # Shown once.
            key = page.locator("#secret-value").input_value()
            assert re.fullmatch(r"ask_[A-Za-z0-9_]+", key)
            page.screenshot(path=str(ARTIFACTS / "apikey-new-created-desktop.png"), full_page=True)
            page.get_by_role("link", name="Done").click()
            expect(page.get_by_role("heading", name="API keys")).to_be_visible()
            assert key not in page.content()

            # Found again with the list's search, and its state filter.
            page.get_by_label("Search").fill("NIGHTLY")
            page.get_by_label("State").select_option("active")
            page.get_by_role("button", name="Search").click()
            page.wait_for_url(re.compile(r".*q=NIGHTLY.*"))
            row = page.get_by_role("row").filter(has_text="nightly export")
            expect(row).to_have_count(1)
            expect(row.get_by_role("cell", name="keys:read", exact=True)).to_be_visible()
            expect(row).to_contain_text("5/second")
            screenshots(page, ARTIFACTS, "apikeys-search")
            page.get_by_label("State").select_option("revoked")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_text("No API keys match.")).to_be_visible()
            assert key not in page.content()
        finally:
            browser.close()
