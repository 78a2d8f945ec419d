"""People and roles managed in a real browser (Debian's Chromium through Playwright) against the
server subprocess: an administrator creates a role by ticking permissions, creates a user with
that role and a set-password link shown once; the new person opens the link in their own
browser, chooses a password and signs in; the administrator sees their session, signs them
out everywhere, resets their password and disables and enables them. Every page is saved at
1280 and 390 px under tests/artifacts/admin/ and checked for accessibility (axe-core)."""

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
CHOSEN = "the person's own passphrase"


def _sign_in(page, base: str, email: str, password: str, next_url: str) -> None:
    page.goto(f"{base}/login?next={next_url}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_an_administrator_manages_roles_and_people(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "root@example.com", "--role", "admin", "--password-stdin",
               input=PASSWORD + "\n")  # fmt: skip
    base = server.issuer
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            admin = browser.new_context(user_agent="Admin browser").new_page()
            admin.set_default_timeout(15000)
            enrol_admin(admin, base, "root@example.com")

            # A role from ticked permissions.
            admin.get_by_role("link", name="Roles").click()
            admin.get_by_role("link", name="Create role").click()
            screenshots(admin, ARTIFACTS, "role-new")
            admin.get_by_label("Name").fill("support")
            admin.get_by_label("Description").fill("Helpdesk")
            admin.get_by_role("checkbox", name="users:read").check()
            admin.get_by_role("checkbox", name="audit:read").check()
            admin.get_by_role("button", name="Create role").click()
            expect(admin.get_by_text("Role support created.")).to_be_visible()
            expect(admin.get_by_role("checkbox", name="audit:read")).to_be_checked()
            screenshots(admin, ARTIFACTS, "role-edit")
            admin.get_by_role("checkbox", name="audit:read").uncheck()
            admin.get_by_role("button", name="Save role").click()
            expect(admin.get_by_text("Role support saved.")).to_be_visible()
            expect(admin.get_by_role("checkbox", name="audit:read")).not_to_be_checked()
            admin.get_by_role("link", name="Roles").click()
            screenshots(admin, ARTIFACTS, "roles")

            # A user with that role and a link to set the password, shown once.
            admin.get_by_role("link", name="Users").click()
            admin.get_by_role("link", name="Create user").click()
            screenshots(admin, ARTIFACTS, "user-new")
            admin.get_by_label("Email").fill("bea@example.com")
            admin.get_by_label("Name", exact=True).fill("Bea")
            admin.get_by_role("checkbox", name="support").check()
            admin.get_by_role("button", name="Create user").click()
            link = admin.locator("#secret-value").input_value()
            assert re.fullmatch(re.escape(base) + r"/account/reset/[A-Za-z0-9_-]+", link)
            screenshots(admin, ARTIFACTS, "user-link")
            admin.get_by_role("link", name="Done").click()
            expect(admin.get_by_role("heading", name="bea@example.com")).to_be_visible()
            assert link not in admin.content()

            # The person opens the link in their own browser, sets a password and signs in.
            bea = browser.new_context(user_agent="Bea's phone").new_page()
            bea.set_default_timeout(15000)
            bea.goto(link)
            bea.get_by_label("New password", exact=True).fill(CHOSEN)
            bea.get_by_label("New password again").fill(CHOSEN)
            bea.get_by_role("button", name="Set password").click()
            expect(bea.get_by_text("password is set", exact=False)).to_be_visible()
            _sign_in(bea, base, "bea@example.com", CHOSEN, "/account")
            bea.wait_for_url(base + "/account")

            # The administrator sees the session and signs her out everywhere.
            admin.reload()
            expect(admin.get_by_role("cell", name="Bea's phone", exact=True)).to_be_visible()
            screenshots(admin, ARTIFACTS, "user")
            admin.get_by_role("link", name="Sign out everywhere").click()
            admin.get_by_role("button", name="Sign out everywhere").click()
            expect(admin.get_by_text("signed out everywhere: 1 session(s) ended")).to_be_visible()
            expect(admin.get_by_text("Not signed in anywhere.")).to_be_visible()
            bea.goto(base + "/account")
            assert "/login" in bea.url

            # A new password typed by the administrator; the chosen one no longer works.
            admin.get_by_role("link", name="Reset password").click()
            screenshots(admin, ARTIFACTS, "user-password")
            admin.get_by_label("New password").fill("short")
            admin.get_by_role("button", name="Set password").click()
            expect(admin.get_by_role("alert")).to_contain_text("At least 12 characters.")
            admin.get_by_label("New password").fill("an administrator's pick")
            admin.get_by_role("button", name="Set password").click()
            expect(admin.get_by_text("Password of bea@example.com set")).to_be_visible()
            _sign_in(bea, base, "bea@example.com", CHOSEN, "/account")
            expect(bea.get_by_role("alert")).to_be_visible()
            _sign_in(bea, base, "bea@example.com", "an administrator's pick", "/account")
            bea.wait_for_url(base + "/account")

            # Disable, then enable again.
            admin.get_by_role("link", name="Disable user").click()
            admin.get_by_role("button", name="Disable").click()
            expect(admin.get_by_text("bea@example.com disabled; sessions ended")).to_be_visible()
            admin.get_by_role("link", name="Enable user").click()
            admin.get_by_role("button", name="Enable").click()
            expect(admin.get_by_text("bea@example.com enabled: they can")).to_be_visible()
            admin.goto(base + "/admin/users?state=active")
            expect(admin.get_by_role("link", name="bea@example.com")).to_be_visible()
            screenshots(admin, ARTIFACTS, "users")
        finally:
            browser.close()
