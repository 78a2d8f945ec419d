"""The consent page shows only what the user would really grant, Deny is the secondary button,
and a reused nonce is explained in words rather than Authlib's "Replay attack"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from authserver.models import ConsentGrant
from authserver.platform.extensions import db
from tests.oauth.test_code_flow import REDIRECT, Browser, rp  # noqa: F401 (fixture)


def _consent_page(http, rp, scope: str):  # noqa: F811
    browser = Browser(http, rp)
    response = http.get(browser.authorize_url(scope=scope))
    location = browser.sign_in(response.headers["Location"])
    return browser, location, http.get(location).get_data(as_text=True)


def test_only_scopes_that_will_be_granted_are_shown_and_remembered(http, rp, user, runner):  # noqa: F811
    scope = "openid email orders:read"
    browser, location, page = _consent_page(http, rp, scope)
    assert "See your email address" in page and "orders:read" not in page  # ada holds no role
    assert 'name="deny" value="Deny" class="secondary"' in page
    browser.consent(location)
    (grant,) = db.session.scalars(select(ConsentGrant))
    assert set(grant.scope.split()) == {"openid", "email"}
    # Given the role later, the user is asked about the new scope: it was never consented to.
    runner("roles", "create", "orders", "--scope", "orders:read")
    runner("roles", "grant", "orders", "--user", "ada@example.com")
    asked_again = http.get(browser.authorize_url(scope=scope))
    assert asked_again.status_code == 200 and "orders:read" in asked_again.get_data(as_text=True)


def test_a_reused_nonce_is_explained_in_words(http, rp, user):  # noqa: F811
    browser = Browser(http, rp)
    first = browser.code(nonce="n0nce-once")
    assert browser.exchange(first["code"]).status_code == 200
    again = http.get(browser.authorize_url(nonce="n0nce-once"))
    assert again.status_code == 302 and again.headers["Location"].startswith(REDIRECT)
    said = parse_qs(urlsplit(again.headers["Location"]).query)
    assert said["error"] == ["invalid_request"]
    assert "used already" in said["error_description"][0]
    assert "Replay" not in said["error_description"][0]
