"""The admin UI in a real browser (Debian's Chromium through Playwright) against the server
subprocess: an administrator enrols an authenticator app when first signing in, rotates a key and
sees the timeline change, creates an API key and sees it exactly once, revokes a key by typing
its kid; a non-admin gets 403 and a POST without CSRF token is refused. Every page is saved as a
screenshot at 1280 px and 390 px under tests/artifacts/ (git-ignored) for a person to look at."""

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
PAGES = ["/admin", "/admin/keys", "/admin/apikeys", "/admin/clients", "/admin/users",
         "/admin/roles", "/admin/audit", "/admin/keys/rotate/ES256", "/admin/gateway",
         "/admin/webhooks"]  # fmt: skip


def _sign_in(page, base: str, email: str, next_url: str = "/admin") -> None:
    page.goto(f"{base}/login?next={next_url}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _screenshots(page, base: str, name: str, path: str) -> None:
    page.goto(base + path)
    screenshots(page, ARTIFACTS, name)


def test_an_administrator_works_in_the_admin_ui(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "root@example.com", "--role", "admin", "--password-stdin",
               input=PASSWORD + "\n")  # fmt: skip
    server.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    base = server.issuer
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTHS["desktop"], "height": 900})
            page.set_default_timeout(15000)

            # First sign-in of an admin: enrol an authenticator app before anything else.
            enrol_admin(page, base, "root@example.com")
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()

            # Rotate a key: the timeline gains a pending window.
            pending_before = page.locator(".timeline .bar-pending").count()
            page.get_by_role("link", name="Signing keys").click()
            page.get_by_role("link", name="Rotate now (ES256)").click()
            page.get_by_role("button", name="Rotate now").click()
            expect(page.get_by_text("ES256 rotated: create_pending")).to_be_visible()
            page.get_by_role("link", name="Overview").click()
            expect(page.locator(".timeline .bar-pending")).to_have_count(pending_before + 1)

            # Create an API key (search the owner, pick it, tick a scope): shown once, with a
            # copy button.
            page.get_by_role("link", name="API keys").click()
            page.get_by_role("link", name="Create API key").click()
            page.get_by_label("Find the owner").fill("root@")
            page.get_by_role("button", name="Search").click()
            page.get_by_role("link", name="root@example.com").click()
            page.get_by_label("keys:read", exact=True).check()
            page.get_by_label("Name").fill("deploy bot")
            page.get_by_label("Expires in").fill("10d")
            page.get_by_role("button", name="Create API key").click()
            key = page.locator("#secret-value").input_value()
            assert re.fullmatch(r"ask_[A-Za-z0-9_]+", key)
            expect(page.get_by_role("button", name="Copy")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "apikey-created-desktop.png"), full_page=True)
            page.get_by_role("link", name="Done").click()
            # The click starts a navigation; read the listing once it has loaded, not the
            # blank page between the two documents.
            expect(page.get_by_role("cell", name="deploy bot")).to_be_visible()
            assert key not in page.content()

            # Revoke a key by typing its kid (a wrong kid revokes nothing).
            page.get_by_role("link", name="Signing keys").click()
            pending_row = page.locator("tr", has=page.locator(".badge-pending")).first
            kid = pending_row.locator("code.kid").inner_text()
            pending_row.get_by_role("link", name=f"Revoke {kid}").click()
            expect(page.get_by_text("This breaks things at once.")).to_be_visible()
            page.get_by_label("Type the kid to confirm").fill(kid[:-2])
            page.get_by_label("Reason").fill("test")
            page.get_by_role("button", name="Revoke").click()
            expect(page.get_by_text("does not match")).to_be_visible()
            page.get_by_label("Type the kid to confirm").fill(kid)
            page.get_by_label("Reason").fill("test")
            page.get_by_role("button", name="Revoke").click()
            expect(page.get_by_text(f"Key {kid} revoked.")).to_be_visible()
            revoked_row = page.locator("tr", has=page.locator(f"text={kid}"))
            expect(revoked_row.locator(".badge-revoked")).to_have_text("revoked")

            # A POST without the form's CSRF token is refused.
            refused = page.request.post(base + "/admin/keys/rotate/RS256", form={})
            assert refused.status == 400

            for path in PAGES:
                name = path.strip("/").replace("/", "-") or "admin"
                _screenshots(page, base, name, path)

            # A signed-in user without admin permissions gets 403.
            other = browser.new_page()
            _sign_in(other, base, "ada@example.com", next_url="/account")
            other.wait_for_url(base + "/account")
            response = other.goto(base + "/admin/keys")
            assert response.status == 403
            other.screenshot(path=str(ARTIFACTS / "forbidden-desktop.png"))
        finally:
            browser.close()
