"""A branded server (AUTHSERVER_BRAND_NAME, _LOGO, _COLOR) in a real browser (Debian's Chromium
through Playwright): the sign-in page shows the logo (loaded under the page's strict CSP), uses
the accent for its primary button, passes the accessibility checks in both themes, and is saved
at 1280 and 390 px under tests/artifacts/branding/ (git-ignored) for a person to look at."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.e2e.test_browser_sign_in import screenshots
from tests.server_process import ServerProcess

pytestmark = requires_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "branding"
LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">'
    '<rect width="40" height="40" rx="8" fill="#0b6e4f"/>'
    '<text x="50" y="27" font-family="sans-serif" font-size="20" fill="#0b6e4f">Acme ID</text>'
    "</svg>"
)


def test_a_branded_sign_in_page(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    logo = tmp_path / "acme.svg"
    logo.write_text(LOGO)
    brand = {"AUTHSERVER_BRAND_NAME": "Acme ID", "AUTHSERVER_BRAND_LOGO": str(logo),
             "AUTHSERVER_BRAND_COLOR": "#0b6e4f"}  # fmt: skip
    server = ServerProcess(tmp_path, **brand)
    server.cli("init")
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            refused, failed = [], []
            page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(server.issuer + "/login")
            expect(page).to_have_title("Sign in · Acme ID")
            image = page.get_by_role("img", name="Acme ID")
            expect(image).to_be_visible()
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
            button = page.get_by_role("button", name="Sign in", exact=True)
            background = button.evaluate("b => getComputedStyle(b).backgroundColor")
            assert background == "rgb(11, 110, 79)"
            screenshots(page, ARTIFACTS, "sign-in")
            assert not refused, refused  # nothing blocked by the CSP
            assert not [url for url in failed if not url.endswith("/favicon.ico")], failed
        finally:
            browser.close()
