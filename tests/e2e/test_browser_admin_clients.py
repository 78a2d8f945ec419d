"""Registering and looking after a client in a real browser (Debian's Chromium through
Playwright) against the server subprocess: an administrator, enrolling an authenticator app at
first sign-in, registers a client by ticking its grant types, scopes and role, edits it, takes
its role and gives it back, disables and enables it, and finds it with the list's search. Each
new page is saved at 1280 px and 390 px under tests/artifacts/admin/ (git-ignored), checked for
horizontal overflow at 390 px and for WCAG 2.1 AA (axe-core, light and dark, visible focus)."""

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


def test_an_administrator_registers_edits_disables_enables_and_finds_a_client(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "root@example.com", "--role", "admin", "--password-stdin",
               input=PASSWORD + "\n")  # fmt: skip
    server.cli("roles", "create", "auditors-lite", "--scope", "audit:read")
    server.cli("clients", "create", "--name", "Other service")
    base = server.issuer
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTHS["desktop"], "height": 900})
            page.set_default_timeout(15000)

            # First sign-in of an admin: enrol an authenticator app before anything else.
            enrol_admin(page, base, "root@example.com")

            # Register: grant types, scopes and a role ticked, the OpenID settings chosen.
            page.goto(base + "/admin/clients")
            expect(page.get_by_role("heading", name="Register a client")).to_be_visible()
            screenshots(page, ARTIFACTS, "clients")
            page.get_by_label("Name", exact=True).fill("Portal")
            grants = page.get_by_role("group", name="Grant types")
            grants.get_by_label("client credentials").uncheck()
            grants.get_by_label("authorization code").check()
            grants.get_by_label("refresh token").check()
            page.get_by_label("Redirect URIs (one per line)", exact=True).fill(
                "https://portal.example/cb"
            )
            scopes = page.get_by_role("group", name="Scopes")
            scopes.get_by_label("openid", exact=True).check()
            scopes.get_by_label("audit:read", exact=True).check()
            page.get_by_role("group", name="Roles").get_by_label("auditors-lite").check()
            page.get_by_label("ID token signing algorithm").select_option("ES256")
            page.get_by_label("Require pushed authorization requests").check()
            page.get_by_label("Resources (RFC 8707, one per line)").fill("https://api.example/")
            page.get_by_role("button", name="Create client").click()

            # The secret, shown once; then the client's page.
            value = page.locator("#secret-value").input_value()
            assert len(value) >= 43
            page.get_by_role("link", name="Done").click()
            expect(page.get_by_role("heading", name="Portal")).to_be_visible()
            assert value not in page.content()
            client_url = page.url
            client_id = client_url.rsplit("/", 1)[1]
            expect(page.get_by_label("ID token signing algorithm")).to_have_value("ES256")
            expect(page.get_by_label("Require pushed authorization requests")).to_be_checked()
            expect(page.get_by_role("group", name="Grant types").get_by_label(
                "authorization code")).to_be_checked()  # fmt: skip
            screenshots(page, ARTIFACTS, "client")

            # Edit: a new name, DPoP required, a back-channel logout URI.
            page.get_by_label("Name", exact=True).fill("Portal 2")
            page.get_by_label("Require DPoP-bound access tokens").check()
            page.get_by_label("Back-channel logout URI").fill("https://portal.example/logout")
            page.get_by_role("button", name="Save", exact=True).click()
            expect(page.get_by_text("Client saved.")).to_be_visible()
            expect(page.get_by_role("heading", name="Portal 2")).to_be_visible()
            expect(page.get_by_label("Require DPoP-bound access tokens")).to_be_checked()
            # A refused change says why, next to the form, and keeps what was typed.
            page.get_by_label("Back-channel logout URI").fill("https://10.0.0.1/logout")
            page.get_by_role("button", name="Save", exact=True).click()
            expect(page.get_by_role("alert")).to_contain_text("backchannel_logout_uri")
            expect(page.get_by_label("Back-channel logout URI")).to_have_value(
                "https://10.0.0.1/logout"
            )

            # Its role: taken away, then given again.
            page.goto(client_url)
            page.get_by_role("button", name="Take role auditors-lite").click()
            expect(page.get_by_text("Role auditors-lite taken from Portal 2.")).to_be_visible()
            page.get_by_label("Role", exact=True).select_option("auditors-lite")
            page.get_by_role("button", name="Give role").click()
            expect(page.get_by_text("Role auditors-lite given to Portal 2.")).to_be_visible()
            expect(page.get_by_role("button", name="Take role auditors-lite")).to_be_visible()

            # Disable (confirmed), then enable: the form is editable again.
            page.get_by_role("link", name="Disable", exact=True).click()
            page.get_by_role("button", name="Disable", exact=True).click()
            expect(page.get_by_text("Client Portal 2 disabled")).to_be_visible()
            expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
            expect(page.get_by_label("Name", exact=True)).to_be_disabled()
            screenshots(page, ARTIFACTS, "client-disabled")
            page.get_by_role("button", name="Enable client").click()
            expect(page.get_by_text("Client Portal 2 enabled.")).to_be_visible()
            expect(page.get_by_label("Name", exact=True)).to_be_enabled()
            expect(page.get_by_role("button", name="Save", exact=True)).to_be_visible()

            # Found by a part of its name, or of its client_id, and by state.
            page.goto(base + "/admin/clients")
            page.get_by_label("Search by name or client_id").fill("PORT")
            page.get_by_label("State").select_option("active")
            page.get_by_role("button", name="Search").click()
            page.wait_for_url(re.compile(r".*q=PORT.*"))
            expect(page.get_by_role("link", name="Portal 2")).to_be_visible()
            expect(page.get_by_role("link", name="Other service")).to_have_count(0)
            screenshots(page, ARTIFACTS, "clients-search")
            page.get_by_label("Search by name or client_id").fill(client_id[3:15])
            page.get_by_label("State").select_option("disabled")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_text("No clients match")).to_be_visible()
            page.get_by_label("State").select_option("")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_role("link", name="Portal 2")).to_be_visible()
        finally:
            browser.close()
