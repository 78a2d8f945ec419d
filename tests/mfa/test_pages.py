"""The second factor as a browser meets it (Flask test client): sign-in with a code or a
recovery code, enrolment through /account/security, the role requirement, step-up at the
authorization endpoint by scope and by acr_values, fresh authentication for removals, and the
per-account back-off."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from sqlalchemy import select

from authserver.mfa import service, totp
from authserver.models import User, UserSession
from authserver.platform import clock
from authserver.platform.acr import ACR_MFA, ACR_PHISHING_RESISTANT
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.mfa.conftest import app_code, enrol_totp, post_code, sign_in_password
from tests.oauth.test_code_flow import REDIRECT, Browser, jwks


def latest_session() -> UserSession:
    return db.session.scalar(select(UserSession).order_by(UserSession.id.desc()))


@pytest.fixture
def ada_with_app(app, ada) -> tuple[User, list[str]]:
    with app.test_request_context("/"):
        codes = enrol_totp(ada)
    return ada, codes


def test_with_an_app_the_password_leads_to_the_code_page(http, ada_with_app):
    ada, _ = ada_with_app
    response = sign_in_password(http)
    assert response.status_code == 303 and response.headers["Location"] == "/login/mfa"
    assert db.session.scalar(select(UserSession)) is None  # no session before the second factor
    page = http.get("/login/mfa").get_data(as_text=True)
    assert re.search(r'<label for="code">Authentication code</label>', page)
    assert 'autocomplete="one-time-code"' in page and ">Verify<" in page
    wrong = post_code(http, "000000" if app_code(ada, 1) != "000000" else "111111")
    assert wrong.status_code == 401 and "That code is not right." in wrong.get_data(as_text=True)
    right = post_code(http, app_code(ada, steps_ahead=1))
    assert right.status_code == 303 and right.headers["Location"] == "/account"
    assert latest_session().amr == ["mfa", "otp", "pwd"]
    assert http.get("/account").status_code == 200


def test_the_code_page_without_a_password_step_goes_back_to_sign_in(http, ada_with_app):
    response = http.get("/login/mfa")
    assert response.status_code == 303 and response.headers["Location"] == "/login"


def test_a_recovery_code_signs_in_once_and_says_how_many_remain(http, ada_with_app):
    _, codes = ada_with_app
    sign_in_password(http)
    response = post_code(http, codes[0], field="recovery_code")
    assert response.status_code == 303
    assert "9 of 10 left" in http.get("/account").get_data(as_text=True)
    http.post("/logout", data={"csrf_token": csrf_of(http.get("/account").get_data(as_text=True))})
    sign_in_password(http)
    again = post_code(http, codes[0], field="recovery_code")
    assert again.status_code == 401


def test_repeated_wrong_codes_get_429_with_retry_after(http, ada_with_app, app):
    ada, _ = ada_with_app
    clock.freeze()
    sign_in_password(http)
    wrong = str((int(app_code(ada, 1)) + 1) % 1_000_000).zfill(6)
    statuses = [post_code(http, wrong).status_code for _ in range(5)]
    assert statuses == [401] * 5
    blocked = post_code(http, app_code(ada, 1))
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 31
    clock.advance(31)
    assert post_code(http, app_code(ada, 1)).status_code == 303


def test_enrolment_through_the_pages_shows_the_secret_and_ten_codes_once(http, ada):
    sign_in_password(http)
    security = http.get("/account/security").get_data(as_text=True)
    for words in ("Set up authenticator app", "Add a passkey", "Sign out"):
        assert words in security
    started = http.post("/account/security/totp?next=", data={"csrf_token": csrf_of(security)})
    assert started.status_code == 303
    page = http.get(started.headers["Location"]).get_data(as_text=True)
    assert "<svg" in page and 'autocomplete="one-time-code"' in page
    secret_text = re.search(r'id="totp-secret" class="secret">([A-Z2-7 ]+)<', page).group(1)
    secret = totp_secret_from_text(secret_text)
    code = totp.code_at(secret, totp.step_at(clock.now()))
    done = http.post(
        "/account/security/totp/verify?next=", data={"code": code, "csrf_token": csrf_of(page)}
    )
    assert done.status_code == 200
    shown = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", done.get_data(as_text=True))
    assert len(shown) == 10 and "shown only once" in done.get_data(as_text=True)
    assert latest_session().amr == ["mfa", "otp", "pwd"]  # the new factor counts at once
    again = http.get("/account/security").get_data(as_text=True)
    assert "10 of 10 recovery codes left" in again and shown[0] not in again


def totp_secret_from_text(text: str) -> bytes:
    import base64

    raw = text.replace(" ", "")
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def test_an_admin_without_a_second_factor_is_sent_to_enrol_first(http, runner, ada):
    assert runner("roles", "grant", "admin", "--user", "ada@example.com").exit_code == 0
    response = sign_in_password(http)
    assert response.headers["Location"].startswith("/account/security?next=")
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your role requires a second factor" in page
    account = http.get("/account")
    assert account.status_code == 303 and account.headers["Location"].startswith(
        "/account/security"
    )


@pytest.fixture
def rotator_rp(runner, ada):
    """A client asking for keys:rotate (a step-up scope by default) and a role that permits it."""
    assert runner("roles", "create", "rotators", "--scope", "keys:rotate").exit_code == 0
    assert runner("roles", "grant", "rotators", "--user", "ada@example.com").exit_code == 0
    result = runner(
        "clients", "create", "--name", "Shop", "--grant-type", "authorization_code",
        "--redirect-uri", REDIRECT, "--scope", "openid keys:rotate", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    return json.loads(result.stdout)


def test_a_step_up_scope_sends_a_password_session_to_enrol_when_there_is_no_factor(
    http, rotator_rp
):
    sign_in_password(http)
    browser = Browser(http, rotator_rp)
    response = http.get(browser.authorize_url(scope="openid keys:rotate"))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/security?next=")


def _password_session_with_an_app(http, app, ada):
    """Signed in with the password only; the app is enrolled afterwards, out of band."""
    sign_in_password(http)
    with app.test_request_context("/"):
        enrol_totp(ada)
    assert latest_session().amr == ["pwd"]


def test_a_step_up_scope_asks_for_the_second_factor_then_grants_it(http, app, ada, rotator_rp):
    _password_session_with_an_app(http, app, ada)
    browser = Browser(http, rotator_rp)
    url = browser.authorize_url(scope="openid keys:rotate")
    # prompt=none cannot step up: OIDC Core §3.1.2.6
    quiet = http.get(browser.authorize_url(scope="openid keys:rotate", prompt="none"))
    assert parse_qs(urlsplit(quiet.headers["Location"]).query)["error"] == ["interaction_required"]
    response = http.get(url)
    assert response.status_code == 303 and response.headers["Location"] == "/login/mfa"
    back = post_code(http, app_code(ada, steps_ahead=1))
    assert back.status_code == 303 and back.headers["Location"].startswith("/oauth/authorize?")
    callback = browser.code(scope="openid keys:rotate")
    token = browser.exchange(callback["code"]).get_json()
    assert token["scope"] == "openid keys:rotate"
    access = jwt.decode(token["access_token"], jwks(http)).claims
    id_token = jwt.decode(token["id_token"], jwks(http)).claims
    for claims in (access, id_token):
        assert claims["amr"] == ["mfa", "otp", "pwd"] and claims["acr"] == ACR_MFA
    assert access["auth_time"] == id_token["auth_time"]


def test_acr_values_force_the_second_factor(http, app, ada, rp):
    _password_session_with_an_app(http, app, ada)
    browser = Browser(http, rp)
    plain = browser.code()
    claims = jwt.decode(browser.exchange(plain["code"]).get_json()["id_token"], jwks(http)).claims
    assert claims["amr"] == ["pwd"] and claims["acr"] == "urn:authserver:acr:1fa"
    # phr is out of reach with an app only: the request is met at the mfa level instead.
    response = http.get(browser.authorize_url(acr_values=f"{ACR_PHISHING_RESISTANT} {ACR_MFA}"))
    assert response.headers["Location"] == "/login/mfa"
    post_code(http, app_code(ada, steps_ahead=1))
    stepped = browser.code(acr_values=ACR_MFA)
    claims = jwt.decode(browser.exchange(stepped["code"]).get_json()["id_token"], jwks(http)).claims
    assert claims["acr"] == ACR_MFA and "mfa" in claims["amr"]


def test_removing_a_factor_needs_a_recent_sign_in(http, ada_with_app):
    ada, _ = ada_with_app
    sign_in_password(http)
    post_code(http, app_code(ada, steps_ahead=1))
    clock.advance(301)
    page = http.get("/account/security").get_data(as_text=True)
    stale = http.post("/account/security/totp/remove", data={"csrf_token": csrf_of(page)})
    assert stale.status_code == 303 and stale.headers["Location"].startswith("/login?")
    assert service.factors_of(ada).has_totp
    sign_in_password(http, next_url="/account/security")
    post_code(http, app_code(ada, steps_ahead=1))
    page = http.get("/account/security").get_data(as_text=True)
    fresh = http.post("/account/security/totp/remove", data={"csrf_token": csrf_of(page)})
    assert fresh.status_code == 303 and fresh.headers["Location"] == "/account/security"
    db.session.expire_all()
    assert not service.factors_of(ada).has_totp


def test_forms_without_csrf_are_refused(http, ada_with_app):
    ada, _ = ada_with_app
    sign_in_password(http)
    post_code(http, app_code(ada, steps_ahead=1))
    for path in (
        "/account/security/totp/remove",
        "/account/security/recovery-codes",
        "/account/security/passkeys/1/remove",
    ):
        assert http.post(path, data={}).status_code == 400
    options = http.post("/account/security/passkeys/options")
    assert options.status_code == 400 and options.get_json()["error"] == "invalid_request"
    assert service.factors_of(ada).has_totp


def test_passkey_options_name_this_server_as_relying_party(http, ada):
    sign_in_password(http)
    page = http.get("/account/security").get_data(as_text=True)
    options = http.post(
        "/account/security/passkeys/options", headers={"X-CSRFToken": csrf_of(page)}
    )
    assert options.status_code == 200 and options.headers["Cache-Control"] == "no-store"
    body = options.get_json()
    assert body["rp"]["id"] == "localhost" and body["attestation"] == "none"
    assert body["authenticatorSelection"]["residentKey"] == "required"
    assert len(body["challenge"]) >= 43  # 256 bits, base64url


def test_a_forged_passkey_answer_is_refused_without_a_server_error(http, ada):
    page = http.get("/login").get_data(as_text=True)
    token = csrf_of(page)
    assert http.post("/login/passkey/options", headers={"X-CSRFToken": token}).status_code == 200
    for credential in ("{}", "not json", '{"id": "nope", "response": {}}', "[1]"):
        response = http.post("/login/passkey", data={"credential": credential, "csrf_token": token})
        assert response.status_code in (400, 401)
        http.post("/login/passkey/options", headers={"X-CSRFToken": token})


def test_discovery_lists_the_acr_values(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["acr_values_supported"] == ["urn:authserver:acr:1fa", ACR_MFA, "phr"]
    assert "acr" in meta["claims_supported"]
