"""The device authorization grant end to end: a device (requests) asks for codes and polls the
server subprocess; its user opens the verification URI in Debian's Chromium, presses
"Continue", signs in and presses "Allow"; the next poll returns the tokens."""

from __future__ import annotations

import json
import time

import requests

from tests.conftest import PASSWORD
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.server_process import ServerProcess

pytestmark = requires_chromium

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def test_a_tv_signs_in_through_the_device_page(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    tv = json.loads(server.cli("clients", "create", "--name", "TV", "--public", "--grant-type",
                               DEVICE_GRANT, "--scope", "openid profile", "--json"))  # fmt: skip
    with server.running(workers=1):
        meta = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10).json()
        codes = requests.post(meta["device_authorization_endpoint"],
                              data={"client_id": tv["client_id"], "scope": "openid profile"},
                              timeout=10).json()  # fmt: skip

        def poll() -> dict:
            return requests.post(meta["token_endpoint"], data={
                "grant_type": DEVICE_GRANT, "device_code": codes["device_code"],
                "client_id": tv["client_id"]}, timeout=10).json()  # fmt: skip

        assert poll()["error"] == "authorization_pending"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15000)
                page.goto(codes["verification_uri_complete"])
                expect(page.get_by_label("Code")).to_have_value(codes["user_code"])
                page.get_by_role("button", name="Continue").click()
                page.get_by_label("Email").fill("ada@example.com")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.get_by_role("button", name="Allow").click()
                expect(page.get_by_role("heading", name="Device connected")).to_be_visible()
            finally:
                browser.close()
        time.sleep(codes["interval"])  # a well-behaved device waits the interval between polls
        tokens = poll()
    assert tokens["token_type"].lower() == "bearer" and tokens["scope"] == "openid profile"
