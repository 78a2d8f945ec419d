"""A real browser (Debian's Chromium, driven by Playwright) signs in and consents at the
server subprocess; a real relying-party library (Authlib's OAuth2Session) exchanges the code,
the ID token is validated against the JWKS fetched over HTTP, the refresh token is rotated, and
neither the code nor a rotated refresh token works twice. The home, error, sign-in, consent and
sign-out pages are saved at 1280 and 390 px under tests/artifacts/sign-in/ (git-ignored) and
checked for accessibility (axe-core, WCAG 2.1 AA, light and dark theme, visible keyboard focus)."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import PASSWORD
from tests.e2e.accessibility import assert_accessible
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.server_process import ServerProcess, free_port

pytestmark = requires_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "sign-in"
WIDTHS = {"desktop": 1280, "phone": 390}


def screenshots(page, directory: Path, name: str) -> None:
    """The page as it is now at each width (no sideways scrolling), then accessibility."""
    directory.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(directory / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} overflows at {width} px by {overflow} px"
    assert_accessible(page, name)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


class _Callback(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"signed in")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def relying_party():
    """The client's redirect target: a tiny HTTP server on loopback."""
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Callback)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/callback"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _code_of(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["code"][0]


def test_sign_in_and_consent_in_a_browser(tmp_path, relying_party):
    from playwright.sync_api import sync_playwright

    server = ServerProcess(tmp_path)
    server.cli("init")
    server.cli(
        "users",
        "create",
        "ada@example.com",
        "--display-name",
        "Ada",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    client = json.loads(
        server.cli(
            "clients",
            "create",
            "--name",
            "Shop",
            "--grant-type",
            "authorization_code refresh_token",
            "--redirect-uri",
            relying_party,
            "--scope",
            "openid profile email offline_access",
            "--json",
        )
    )
    with server.running():
        meta = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10).json()
        rp = OAuth2Session(
            client["client_id"],
            client["client_secret"],
            scope="openid profile email offline_access",
            redirect_uri=relying_party,
            code_challenge_method="S256",
        )
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(server.issuer + "/")
                screenshots(page, ARTIFACTS, "home")
                # An authorization request from no known client: the browser's error page.
                response = page.goto(server.issuer + "/oauth/authorize?client_id=nobody")
                assert response.status == 400
                screenshots(page, ARTIFACTS, "error")
                page.goto(url)
                screenshots(page, ARTIFACTS, "sign-in")
                page.get_by_label("Email").fill("ada@example.com")
                page.get_by_label("Password").fill("not the password")
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.get_by_role("alert").first.wait_for()
                screenshots(page, ARTIFACTS, "sign-in-refused")
                page.get_by_label("Email").fill("ada@example.com")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.get_by_role("button", name="Allow").wait_for()
                screenshots(page, ARTIFACTS, "consent")
                page.get_by_role("button", name="Allow").click()
                page.wait_for_url(relying_party + "*", timeout=15000)
                callback = page.url
                page.screenshot(path=str(tmp_path / "callback.png"))
                page.goto(meta["end_session_endpoint"])
                screenshots(page, ARTIFACTS, "sign-out")
                page.get_by_role("button", name="Sign out").click()
                page.get_by_role("heading", name="You are signed out").wait_for()
                screenshots(page, ARTIFACTS, "signed-out")
            finally:
                browser.close()

        assert f"state={state}" in callback and "iss=" in callback
        token = rp.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        claims = id_token.claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": server.issuer},
            aud={"essential": True, "value": client["client_id"]},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
        ).validate(claims)
        assert claims["name"] == "Ada" and claims["email"] == "ada@example.com"
        info = requests.get(
            meta["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=10,
        ).json()
        assert info["sub"] == claims["sub"]
        # Each request runs in its own transaction here: what a token request leaves behind
        # (the refresh token stored, the code claimed) must have been committed.
        refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        reused = requests.post(
            meta["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        replay = requests.post(
            meta["token_endpoint"],
            data={"grant_type": "authorization_code", "code": _code_of(callback),
                  "redirect_uri": relying_party, "code_verifier": verifier},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )  # fmt: skip
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        rp.close()
