"""Pushed Authorization Requests end to end: the relying party pushes its request (requests,
client_secret_basic), sends the browser (Debian's Chromium) with only client_id and request_uri,
and exchanges the code with Authlib's client; the ID token names the user."""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import PASSWORD
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.e2e.test_browser_sign_in import relying_party  # noqa: F401 (fixture)
from tests.server_process import ServerProcess

pytestmark = requires_chromium


def test_push_then_authorize_in_a_browser(tmp_path, relying_party):  # noqa: F811
    from playwright.sync_api import sync_playwright

    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli("users", "create", "ada@example.com", "--display-name", "Ada", "--password-stdin",
               input=PASSWORD + "\n")  # fmt: skip
    client = json.loads(server.cli(
        "clients", "create", "--name", "Bank", "--grant-type", "authorization_code",
        "--redirect-uri", relying_party, "--scope", "openid profile", "--require-par", "--json",
    ))  # fmt: skip
    with server.running(workers=1):
        meta = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10).json()
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(8)
        pushed = requests.post(
            meta["pushed_authorization_request_endpoint"],
            data={"response_type": "code", "client_id": client["client_id"],
                  "redirect_uri": relying_party, "scope": "openid profile", "state": state,
                  "nonce": "n-par", "code_challenge": create_s256_code_challenge(verifier),
                  "code_challenge_method": "S256"},
            auth=(client["client_id"], client["client_secret"]), timeout=10,
        )  # fmt: skip
        assert pushed.status_code == 201, pushed.text
        url = (
            meta["authorization_endpoint"]
            + "?"
            + urlencode(
                {"client_id": client["client_id"], "request_uri": pushed.json()["request_uri"]}
            )
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15000)
                page.goto(url)
                page.get_by_label("Email").fill("ada@example.com")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.get_by_role("button", name="Allow").click()
                page.wait_for_url(relying_party + "*")
                callback = page.url
            finally:
                browser.close()
        assert parse_qs(urlsplit(callback).query)["state"] == [state]
        rp = OAuth2Session(client["client_id"], client["client_secret"], redirect_uri=relying_party)
        token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                               code_verifier=verifier)  # fmt: skip
        rp.close()
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["name"] == "Ada" and claims["nonce"] == "n-par"
