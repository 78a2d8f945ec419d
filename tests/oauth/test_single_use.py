"""Single use through HTTP, one request after another (the races are in
tests/e2e/test_single_use_races.py): what a failing request leaves of a claim. A code its own
client fails to redeem is spent (RFC 6749 §4.1.2, §10.5); a stranger's presentation is not; a
refresh token is spent only with its successor; a DPoP proof's jti stays spent whatever becomes
of the request it came with (RFC 9449 §11.1)."""

from __future__ import annotations

import json
import secrets

import pytest
from authserver_verify.dpop import ath_of
from joserfc.jwk import ECKey
from sqlalchemy import select

from authserver.models import AuditEvent
from authserver.platform.extensions import db
from tests.conftest import init_app, make_app
from tests.oauth.test_code_flow import REDIRECT, Browser
from tests.oauth.test_dpop import USERINFO_URL, proof


@pytest.fixture
def app(tmp_path):
    """Without Redis even in the PostgreSQL pass: DPoP proofs' jtis are then kept in the
    database (with Redis they are a SET NX, which a request's rollback never touched)."""
    app = make_app(tmp_path, rate_limit_storage="memory://")
    init_app(app)
    with app.app_context():
        yield app


@pytest.fixture
def browser(http, rp, user) -> Browser:
    return Browser(http, rp)


def _refresh(http, rp, token: str, **extra):
    return http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, **extra},
        auth=(rp["client_id"], rp["client_secret"]),
    )


def test_a_wrong_pkce_verifier_spends_the_code(browser):
    code = browser.code()["code"]
    wrong = browser.exchange(code, verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    right = browser.exchange(code)
    assert right.status_code == 400 and right.get_json()["error"] == "invalid_grant"


def test_a_wrong_redirect_uri_spends_the_code(browser):
    code = browser.code()["code"]
    wrong = browser.exchange(code, redirect_uri=REDIRECT + "/elsewhere")
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    assert browser.exchange(code).get_json()["error"] == "invalid_grant"


def test_a_code_presented_by_another_client_is_not_spent(browser, http, runner):
    created = runner("clients", "create", "--name", "Other", "--grant-type", "authorization_code",
                     "--redirect-uri", REDIRECT, "--scope", "openid", "--json")  # fmt: skip
    other = json.loads(created.stdout)
    code = browser.code()["code"]
    stranger = http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
              "code_verifier": browser.verifier},
        auth=(other["client_id"], other["client_secret"]),
    )  # fmt: skip
    assert stranger.status_code == 400 and stranger.get_json()["error"] == "invalid_grant"
    own = browser.exchange(code)
    assert own.status_code == 200, own.get_json()
    replays = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "oauth:code:replayed")
    )
    assert replays.all() == []


def test_a_refresh_that_fails_after_the_claim_leaves_the_token_usable(browser, http, rp):
    tokens = browser.exchange(browser.code()["code"]).get_json()
    too_wide = _refresh(http, rp, tokens["refresh_token"], scope="openid orders:read")
    assert too_wide.status_code == 400 and too_wide.get_json()["error"] == "invalid_scope"
    again = _refresh(http, rp, tokens["refresh_token"])
    assert again.status_code == 200, again.get_json()
    # Spent with its successor: presenting it once more is reuse, and revokes the family.
    assert _refresh(http, rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _refresh(http, rp, again.get_json()["refresh_token"]).status_code == 400
    reused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "oauth:refresh-token:reused")
    ).all()
    assert len(reused) == 1 and reused[0].actor == f"client:{rp['client_id']}"


def test_another_clients_refresh_token_is_neither_used_nor_spent(browser, http, rp, runner):
    created = runner("clients", "create", "--name", "Other", "--grant-type", "refresh_token",
                     "--scope", "openid offline_access", "--json")  # fmt: skip
    other = json.loads(created.stdout)
    tokens = browser.exchange(browser.code()["code"]).get_json()
    stranger = _refresh(http, other, tokens["refresh_token"])
    assert stranger.status_code == 400 and stranger.get_json()["error"] == "invalid_grant"
    assert _refresh(http, rp, tokens["refresh_token"]).status_code == 200


def test_a_dpop_proof_stays_spent_when_its_token_request_fails(http, make_client):
    client = make_client()
    key = ECKey.generate_key("P-256")
    used = proof(key)
    too_wide = {"grant_type": "client_credentials", "scope": "admin:everything"}
    failed = http.post("/oauth/token", headers={**client.basic(), "DPoP": used}, data=too_wide)
    assert failed.status_code == 400 and failed.get_json()["error"] == "invalid_scope"
    replay = http.post("/oauth/token", headers={**client.basic(), "DPoP": used},
                       data={"grant_type": "client_credentials"})  # fmt: skip
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_dpop_proof"


def test_a_dpop_proof_at_userinfo_is_accepted_once(http, rp, browser):
    key = ECKey.generate_key("P-256")
    callback = browser.code()
    access = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier}, headers={"DPoP": proof(key)},
        auth=(rp["client_id"], rp["client_secret"])).get_json()["access_token"]  # fmt: skip
    headers = {"Authorization": f"DPoP {access}",
               "DPoP": proof(key, url=USERINFO_URL, method="GET", ath=ath_of(access))}  # fmt: skip
    assert http.get("/oauth/userinfo", headers=headers).status_code == 200
    # UserInfo writes nothing of its own, so its transaction is never committed: the jti
    # must be remembered apart from it.
    replay = http.get("/oauth/userinfo", headers=headers)
    assert replay.status_code == 401
