"""MFA in a real browser (Debian's Chromium through Playwright) against the server subprocess:
enrol an authenticator app by reading the secret off the page, sign in with a code, register a
passkey with Chromium's virtual authenticator (CDP WebAuthn domain: ctap2, internal transport,
resident key, user verification), sign in with it without a password, and check `amr`/`acr`
in the ID token a real relying-party library receives. The security, authenticator-app, recovery
code, second-factor and consent pages are saved under tests/artifacts/mfa/ and checked for
accessibility (axe-core, WCAG 2.1 AA, light and dark theme, visible keyboard focus)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path

import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import PASSWORD
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.e2e.test_browser_sign_in import (
    relying_party,  # noqa: F401 (fixture)
    screenshots,
)
from tests.server_process import ServerProcess

pytestmark = requires_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "mfa"


def app_code(secret_text: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows, from the secret as the page prints it."""
    raw = secret_text.replace(" ", "")
    secret = base64.b32decode(raw + "=" * (-len(raw) % 8))
    at = int(time.time()) + 30 * steps_ahead
    return TOTP(secret, 6, SHA1(), 30).generate(at).decode()  # noqa: S303


def enrol_admin(page, base: str, email: str) -> None:
    """An administrator's first sign-in: their role asks for a second factor, so an
    authenticator app is enrolled before anything else; ends on /admin."""
    from playwright.sync_api import expect

    page.goto(f"{base}/login?next=/admin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("Your role requires a second factor")).to_be_visible()
    page.get_by_role("button", name="Set up authenticator app").click()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Authentication code").fill(app_code(secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("link", name="I have saved them").click()
    page.wait_for_url(base + "/admin")


def _server(tmp_path, callback: str) -> tuple[ServerProcess, dict]:
    server = ServerProcess(tmp_path)
    # Passkeys need a host name as relying-party ID: localhost, not 127.0.0.1.
    server.issuer = f"http://localhost:{server.port}"
    server.env["AUTHSERVER_ISSUER"] = server.issuer
    server.cli("init")
    server.cli(
        "users", "create", "ada@example.com", "--display-name", "Ada", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    client = json.loads(
        server.cli(
            "clients",
            "create",
            "--name",
            "Shop",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            callback,
            "--scope",
            "openid profile",
            "--json",
        )  # fmt: skip
    )
    return server, client


def test_totp_then_passkey_then_passwordless_sign_in(tmp_path, relying_party):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    server, client = _server(tmp_path, relying_party)
    base = server.issuer
    with server.running(), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15000)
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )["authenticatorId"]

            # Password sign-in, then enrol an authenticator app.
            page.goto(base + "/login")
            page.get_by_label("Email").fill("ada@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.goto(base + "/account/security")
            screenshots(page, ARTIFACTS, "security")
            page.get_by_role("button", name="Set up authenticator app").click()
            secret = page.locator("#totp-secret").inner_text()
            expect(page.locator(".qr svg")).to_be_visible()
            screenshots(page, ARTIFACTS, "totp-setup")
            page.get_by_label("Authentication code").fill(app_code(secret))
            page.get_by_role("button", name="Verify").click()
            codes = page.locator("#recovery-codes li")
            expect(codes).to_have_count(10)
            recovery_codes = codes.all_inner_texts()
            screenshots(page, ARTIFACTS, "recovery-codes")
            page.get_by_role("link", name="I have saved them").click()

            # Sign out; sign in again with the password and a code.
            page.get_by_role("button", name="Sign out").click()
            page.get_by_label("Email").fill("ada@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url("**/login/mfa")
            screenshots(page, ARTIFACTS, "second-factor")
            page.get_by_label("Authentication code").fill(app_code(secret, steps_ahead=1))
            page.get_by_role("button", name="Verify").click()
            page.wait_for_url("**/account")
            expect(page.get_by_role("heading", name="Signed in as Ada")).to_be_visible()
            screenshots(page, ARTIFACTS, "account")

            # Register a passkey on the virtual authenticator.
            page.goto(base + "/account/security")
            page.get_by_label("Passkey name").fill("Virtual key")
            page.get_by_role("button", name="Add a passkey").click()
            expect(page.get_by_text("Passkey added.")).to_be_visible()
            expect(page.get_by_role("cell", name="Virtual key", exact=True)).to_be_visible()
            stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
            assert (
                len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]
            )
            screenshots(page, ARTIFACTS, "security-with-passkey")

            # Sign out, then sign in with the passkey alone, inside an OpenID flow.
            page.get_by_role("button", name="Sign out").click()
            meta = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
            rp = OAuth2Session(
                client["client_id"], client["client_secret"], scope="openid profile",
                redirect_uri=relying_party, code_challenge_method="S256",
            )  # fmt: skip
            verifier = secrets.token_urlsafe(48)
            url, _ = rp.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce="n-1"
            )
            page.goto(url)
            page.get_by_role("button", name="Sign in with a passkey").click()
            page.get_by_role("button", name="Allow").wait_for()
            screenshots(page, ARTIFACTS, "consent")
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(relying_party + "*")
            callback = page.url
        finally:
            browser.close()

        token = rp.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        rp.close()
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
        assert claims["amr"] == ["hwk", "mfa"] and claims["acr"] == "phr"
        assert claims["name"] == "Ada"
        log = server.log()
    assert '"event": "account:mfa:succeeded"' in log and '"method": "passkey"' in log
    # Neither the app's secret nor a recovery code ever reaches the log.
    assert secret.replace(" ", "") not in log.replace(" ", "")
    assert not [code for code in recovery_codes if code.strip() in log]
