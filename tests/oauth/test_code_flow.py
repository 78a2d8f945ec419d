"""The authorization code flow with PKCE, OpenID Connect ID tokens, consent, refresh-token
rotation, UserInfo and logout — driven through the Flask test client as a browser."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from authserver.accounts.service import find_user
from authserver.models import AuditEvent, AuthorizationCode, RefreshToken, User
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of

REDIRECT = "https://rp.example/callback"
ISSUER = "http://localhost:5000"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def rp(runner):
    result = runner(
        "clients",
        "create",
        "--name",
        "Shop",
        "--grant-type",
        "authorization_code refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid profile email offline_access orders:read",
        "--post-logout-redirect-uri",
        "https://rp.example/bye",
        "--json",
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class Browser:
    def __init__(self, http, rp) -> None:
        self.http = http
        self.rp = rp
        self.verifier, self.challenge = pkce()
        self.password = "correct horse battery staple"

    def authorize_url(self, **extra) -> str:
        return "/oauth/authorize?" + urlencode(self.authorize_url_params(**extra))

    def authorize_url_params(self, **extra) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.rp["client_id"],
            "redirect_uri": REDIRECT,
            "scope": "openid profile email offline_access",
            "state": "st4te",
            "nonce": "n0nce-" + secrets.token_hex(4),
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def sign_in(self, location: str) -> str:
        assert location.startswith("/login?")
        page = self.http.get(location).get_data(as_text=True)
        next_url = parse_qs(urlsplit(location).query)["next"][0]
        response = self.http.post(
            "/login",
            data={
                "email": "ada@example.com",
                "password": self.password,
                "next": next_url,
                "csrf_token": csrf_of(page),
            },
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        return response.headers["Location"]

    def consent(self, location: str, decision="Allow"):
        page = self.http.get(location)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Shop wants to" in text and ">Allow<" in text and ">Deny<" in text
        field = "allow" if decision == "Allow" else "deny"
        return self.http.post(location, data={"csrf_token": csrf_of(text), field: decision})

    def code(self, **extra) -> dict:
        """Sign in and consent as needed; the callback's query parameters."""
        response = self.http.get(self.authorize_url(**extra))
        if response.status_code == 303:
            location = self.sign_in(response.headers["Location"])
            response = self.http.get(location)
        if response.status_code == 200:
            response = self.consent(
                urlsplit(response.request.url).path + "?" + urlsplit(response.request.url).query
            )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        location = response.headers["Location"]
        assert location.startswith(REDIRECT)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def exchange(self, code: str, verifier: str | None = None, redirect_uri=REDIRECT):
        return self.http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier or self.verifier,
            },
            auth=(self.rp["client_id"], self.rp["client_secret"]),
        )


@pytest.fixture
def browser(http, rp, user):
    return Browser(http, rp)


def jwks(http) -> KeySet:
    return KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())


def test_full_flow_issues_access_id_and_refresh_tokens(browser, http, rp):
    params = browser.code()
    assert params["state"] == "st4te"
    assert params["iss"] == ISSUER  # RFC 9207
    response = browser.exchange(params["code"])
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert {"access_token", "id_token", "refresh_token"} <= tokens.keys()

    id_token = jwt.decode(tokens["id_token"], jwks(http))
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"]
    claims = id_token.claims
    user = db.session.scalar(select(User))
    assert claims["sub"] == user.subject != str(user.id)
    assert claims["sub"] != user.email
    assert claims["iss"] == ISSUER and claims["aud"] == [rp["client_id"]]
    assert claims["nonce"].startswith("n0nce-")
    assert {"auth_time", "amr", "sid", "at_hash", "exp", "iat"} <= claims.keys()
    assert claims["amr"] == ["pwd"]

    userinfo = http.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200 and userinfo.headers["Cache-Control"] == "no-store"
    assert userinfo.get_json() == {
        "sub": user.subject,
        "name": "Ada",
        "email": "ada@example.com",
        "email_verified": True,
    }


@pytest.mark.parametrize("alg", ["ES256", "Ed25519"])
def test_the_id_token_algorithm_is_chosen_per_client(runner, http, user, alg):
    result = runner(
        "clients", "create", "--name", "Shop", "--grant-type", "authorization_code",
        "--redirect-uri", REDIRECT, "--scope", "openid", "--id-token-alg", alg, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    browser = Browser(http, json.loads(result.stdout))
    tokens = browser.exchange(browser.code(scope="openid")["code"]).get_json()
    id_token = jwt.decode(tokens["id_token"], jwks(http), algorithms=[alg])
    assert id_token.header["alg"] == alg
    signer = next(k for k in jwks(http).keys if k.kid == id_token.header["kid"])
    assert signer.alg == alg


def test_an_id_token_algorithm_without_keys_is_refused(runner):
    result = runner("clients", "create", "--name", "Shop", "--id-token-alg", "HS256")
    assert result.exit_code != 0 and "id_token_alg" in result.output


@pytest.mark.parametrize("name", ["state", "nonce", "scope", "redirect_uri"])
def test_oversized_values_get_an_error_page(browser, http, name):
    response = http.get(browser.authorize_url(**{name: "x" * 5000}))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "too long" in response.get_data(as_text=True)


def test_consent_is_remembered_for_the_same_scopes(browser, http, rp, runner):
    browser.code()
    granted = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "oauth:consent:granted")
    ).all()
    ada = find_user("ada@example.com")
    assert [(e.actor, e.data["client"]) for e in granted] == [(ada.actor, rp["client_id"])]
    # second time: no consent page, straight back to the client
    response = http.get(browser.authorize_url())
    assert response.status_code == 302
    # more scopes than consented (and the user may grant them): asked again
    runner("roles", "create", "orders", "--scope", "orders:read")
    runner("roles", "grant", "orders", "--user", "ada@example.com")
    response = http.get(browser.authorize_url(scope="openid orders:read"))
    assert response.status_code == 200
    assert "orders:read" in response.get_data(as_text=True)


def test_deny_returns_access_denied(browser, http):
    response = http.get(browser.authorize_url())
    location = browser.sign_in(response.headers["Location"])
    response = browser.consent(location, decision="Deny")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st4te"]
    assert query["iss"] == [ISSUER]


def test_a_code_works_once_and_its_replay_revokes_what_it_issued(browser, http, rp):
    params = browser.code()
    first = browser.exchange(params["code"]).get_json()
    replay = browser.exchange(params["code"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    auth = (rp["client_id"], rp["client_secret"])
    introspect = http.post("/oauth/introspect", data={"token": first["access_token"]}, auth=auth)
    assert introspect.get_json() == {"active": False}
    refresh = http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=auth,
    )
    assert refresh.status_code == 400


def test_codes_expire_after_60_seconds(browser):
    clock.freeze()
    params = browser.code()
    clock.advance(60)
    assert browser.exchange(params["code"]).get_json()["error"] == "invalid_grant"


def test_codes_are_stored_only_as_hashes(browser):
    params = browser.code()
    row = db.session.scalar(select(AuthorizationCode))
    assert params["code"] not in row.code_hash and len(params["code"]) >= 43


def test_pkce_verifier_must_match(browser):
    params = browser.code()
    response = browser.exchange(params["code"], verifier=secrets.token_urlsafe(48))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "extra",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
    ],
)
def test_pkce_s256_is_required(browser, http, extra):
    browser.code()  # sign in first, so the errors below come from the request itself
    response = http.get(browser.authorize_url(**extra))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"]


def test_redirect_uri_must_match_exactly_at_the_token_endpoint(browser):
    params = browser.code()
    response = browser.exchange(params["code"], redirect_uri=REDIRECT + "/other")
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "extra",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT + "?x=1"},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
)
def test_bad_client_or_redirect_uri_shows_an_error_page_and_never_redirects(browser, http, extra):
    response = http.get(browser.authorize_url(**extra))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "cannot be completed" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "extra, error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin:everything"}, "invalid_scope"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_bad_requests_with_a_valid_redirect_uri_go_back_to_the_client(browser, http, extra, error):
    browser.code()
    response = http.get(browser.authorize_url(**extra))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == [error] and query["state"] == ["st4te"]


def test_duplicated_parameters_are_refused(browser, http):
    url = browser.authorize_url() + "&state=again"
    response = http.get(url)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=invalid_request" in response.headers["Location"]


def test_prompt_none_without_a_session_is_login_required(browser, http):
    response = http.get(browser.authorize_url(prompt="none"))
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["login_required"]


def test_prompt_login_and_max_age_force_a_new_sign_in(browser, http):
    browser.code()
    assert http.get(browser.authorize_url(prompt="login")).status_code == 303
    clock.freeze()
    clock.advance(120)
    assert http.get(browser.authorize_url(max_age="60")).status_code == 303
    assert http.get(browser.authorize_url(max_age="600")).status_code == 302


def test_form_post_response_mode(browser, http):
    browser.code()
    page = http.get(browser.authorize_url(response_mode="form_post"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'action="{REDIRECT}"' in text and 'name="code"' in text and 'name="iss"' in text
    # The page may post to the client's origin and nowhere else; its script is not inline.
    policy = page.headers["Content-Security-Policy"]
    assert policy.endswith("form-action https://rp.example") and "unsafe-inline" not in policy
    assert "/static/form_post.js" in text


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(browser, http, rp):
    tokens = browser.exchange(browser.code()["code"]).get_json()
    auth = (rp["client_id"], rp["client_secret"])

    def refresh(token):
        return http.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=auth
        )

    second = refresh(tokens["refresh_token"]).get_json()
    assert second["refresh_token"] != tokens["refresh_token"]
    third = refresh(second["refresh_token"]).get_json()
    # the first token again: reuse → invalid_grant and the whole family is revoked
    reuse = refresh(tokens["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert refresh(third["refresh_token"]).status_code == 400
    rows = db.session.scalars(select(RefreshToken)).all()
    assert rows and all(r.revoked_at for r in rows)
    assert all(tokens["refresh_token"] not in r.token_hash for r in rows)


def test_refresh_tokens_expire_when_idle(browser, http, rp):
    clock.freeze()
    tokens = browser.exchange(browser.code()["code"]).get_json()
    clock.advance(7 * 86400)
    response = http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp["client_id"], rp["client_secret"]),
    )
    assert response.status_code == 400


def test_no_refresh_token_without_offline_access(browser):
    tokens = browser.exchange(browser.code(scope="openid email")["code"]).get_json()
    assert "refresh_token" not in tokens and "id_token" in tokens


def test_userinfo_needs_a_valid_bearer_token(http):
    assert http.get("/oauth/userinfo").status_code == 401
    bad = http.get("/oauth/userinfo", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and "invalid_token" in bad.headers.get("WWW-Authenticate", "")


def test_logout_with_id_token_hint_ends_the_session_and_returns_to_the_client(browser, http, rp):
    tokens = browser.exchange(browser.code()["code"]).get_json()
    response = http.get(
        "/oauth/logout?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "https://rp.example/bye",
                "state": "s1",
            }
        )
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example/bye?state=s1"
    assert "authserver_session=;" in response.headers.get("Set-Cookie", "")
    assert http.get("/account").status_code == 303


def test_logout_to_an_unregistered_uri_does_not_redirect(browser, http):
    tokens = browser.exchange(browser.code()["code"]).get_json()
    response = http.get(
        "/oauth/logout?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "https://evil.example/",
            }
        )
    )
    assert response.status_code == 200
    assert "signed out" in response.get_data(as_text=True)


def test_logout_without_a_hint_asks_first(browser, http):
    browser.code()
    page = http.get("/oauth/logout")
    assert page.status_code == 200 and ">Sign out<" in page.get_data(as_text=True)
    assert http.get("/account").status_code == 200  # still signed in


def test_public_clients_use_pkce_without_a_secret(runner, http, user):
    created = json.loads(
        runner(
            "clients",
            "create",
            "--name",
            "Shop",
            "--public",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid",
            "--json",
        ).stdout
    )
    assert created["client_secret"] is None
    browser = Browser(http, created)
    params = browser.code(scope="openid")
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": browser.verifier,
            "client_id": created["client_id"],
        },
    )
    assert response.status_code == 200, response.get_json()
    assert "id_token" in response.get_json()
