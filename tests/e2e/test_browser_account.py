"""Account self-service in a real browser (Debian's Chromium through Playwright) against the
server subprocess: two devices signed in, one signs the other out, then changes the password
(the other device's session is gone, the new password signs in). Screenshots of the account
and password pages at 1280 and 390 px are kept in tests/artifacts/account/; each page is checked
for accessibility (axe-core, WCAG 2.1 AA, light and dark theme, visible keyboard focus)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PASSWORD
from tests.e2e.accessibility import assert_accessible
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.server_process import ServerProcess

pytestmark = requires_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "account"
WIDTHS = {"desktop": 1280, "phone": 390}
NEW = "a brand new passphrase"


def _sign_in(page, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login?next=/account")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _screenshots(page, name: str) -> None:
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        # Nothing wider than the screen: no sideways scrolling of the page itself.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} overflows at {width} px by {overflow} px"
    assert_accessible(page, name)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def test_a_person_signs_out_another_device_and_changes_the_password(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    base = server.issuer
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            laptop = browser.new_context(user_agent="Laptop browser").new_page()
            phone = browser.new_context(user_agent="Phone browser").new_page()
            for page in (laptop, phone):
                page.set_default_timeout(15000)
                _sign_in(page, base)
                page.wait_for_url(base + "/account")

            laptop.reload()  # it signed in before the phone did
            expect(laptop.get_by_role("cell", name="Phone browser", exact=True)).to_be_visible()
            expect(laptop.get_by_text("this device")).to_be_visible()
            _screenshots(laptop, "account")
            laptop.get_by_role("button", name="Sign out Phone browser").click()
            laptop.wait_for_url(base + "/account")
            expect(laptop.get_by_role("cell", name="Phone browser", exact=True)).to_have_count(0)
            phone.goto(base + "/account")
            expect(phone.get_by_label("Email")).to_be_visible()  # back at the sign-in page

            laptop.get_by_role("link", name="Change password").click()
            laptop.wait_for_url(base + "/account/password")
            for label in ("Current password", "New password", "New password again"):
                expect(laptop.get_by_label(label, exact=True)).to_be_visible()  # labelled
            _screenshots(laptop, "password")
            laptop.get_by_label("Current password").fill("not my password")
            laptop.get_by_label("New password", exact=True).fill(NEW)
            laptop.get_by_label("New password again").fill(NEW)
            laptop.get_by_role("button", name="Change password").click()
            expect(laptop.get_by_role("alert")).to_contain_text("current password is not right")
            _screenshots(laptop, "password-refused")
            laptop.get_by_label("Current password").fill(PASSWORD)
            laptop.get_by_label("New password", exact=True).fill(NEW)
            laptop.get_by_label("New password again").fill(NEW)
            laptop.get_by_role("button", name="Change password").click()
            expect(laptop.get_by_role("status")).to_contain_text("Your password is changed.")
            _screenshots(laptop, "password-changed")

            _sign_in(phone, base, password=PASSWORD)
            expect(phone.get_by_text("The email or password is not right.")).to_be_visible()
            _sign_in(phone, base, password=NEW)
            phone.wait_for_url(base + "/account")
        finally:
            browser.close()


def test_a_person_who_forgot_the_password_follows_the_mailed_link(tmp_path):
    """A real SMTP server (aiosmtpd) receives the mail; the browser opens its link, sets a new
    password and signs in with it; the link does nothing a second time."""
    from aiosmtpd.controller import Controller
    from playwright.sync_api import expect, sync_playwright

    from tests.accounts.test_password_reset import Inbox
    from tests.server_process import free_port

    inbox = Inbox()
    relay = Controller(inbox, hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        server = ServerProcess(tmp_path, AUTHSERVER_SMTP_URL=f"smtp://127.0.0.1:{relay.port}")
        server.cli("init")
        server.cli("users", "create", "ada@example.com", "--password-stdin",
                   input=PASSWORD + "\n")  # fmt: skip
        base = server.issuer
        with server.running(workers=1), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15000)
                page.goto(base + "/login")
                page.get_by_role("link", name="Forgot your password?").click()
                _screenshots(page, "reset-request")
                page.get_by_label("Email").fill("ada@example.com")
                page.get_by_role("button", name="Send me a link").click()
                expect(page.get_by_role("status")).to_contain_text("If an account uses that email")
                _screenshots(page, "reset-sent")
                link = inbox.link()
                assert link.startswith(base + "/account/reset/")
                page.goto(link)
                page.get_by_label("New password", exact=True).fill(NEW)
                page.get_by_label("New password again").fill(NEW)
                _screenshots(page, "reset-choose")
                page.get_by_role("button", name="Set password").click()
                expect(page.get_by_role("status")).to_contain_text("Your password is set.")
                page.get_by_role("link", name="Sign in").click()
                _sign_in(page, base, password=NEW)
                page.wait_for_url(base + "/account")
                page.goto(link)
                expect(page.get_by_text("used already or has expired")).to_be_visible()
                _screenshots(page, "reset-used")
            finally:
                browser.close()
    finally:
        relay.stop()
