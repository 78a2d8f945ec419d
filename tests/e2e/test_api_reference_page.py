"""The admin API reference page in a real browser (Debian Chromium through Playwright): it is
built from the served OpenAPI document, and its "Send" button calls the API with the key given."""

from __future__ import annotations

import json

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.server_process import ServerProcess

pytestmark = requires_chromium


def test_the_reference_page_lists_operations_and_sends_requests(tmp_path):
    from playwright.sync_api import sync_playwright

    server = ServerProcess(tmp_path)
    server.cli("init")
    owner = json.loads(
        server.cli(
            "clients", "create", "--name", "ops", "--role", "admin", "--force-mfa-roles", "--json"
        )
    )
    key = json.loads(
        server.cli(
            "apikeys", "create", "--client", owner["client_id"], "--scope", "roles:read", "--json"
        )
    )["key"]
    with server.running(workers=1), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server.issuer + "/api/v1/docs")
            operation = page.locator("details", has_text="List roles")
            operation.locator("summary").click()
            page.fill("#token", key)
            operation.get_by_role("button", name="Send").click()
            output = operation.locator("pre")
            output.wait_for(state="visible")
            page.wait_for_function(
                "el => el.textContent.startsWith('200')", arg=output.element_handle()
            )
            assert '"name":"admin"' in output.text_content().replace(" ", "")
            # Deprecated operations are marked as such.
            assert page.locator("summary.deprecated").count() == 1
        finally:
            browser.close()
