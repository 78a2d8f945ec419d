"""The MFA policy through the admin API and the CLI: a role that requires MFA makes the API
refuse its members' tokens from password-only sign-ins (RFC 9470), roles carry the switch, and an
administrator can reset a user's factors."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from authserver.mfa import service
from authserver.models import AuditEvent, Role
from authserver.platform.extensions import db
from tests.api.conftest import Api
from tests.mfa.conftest import app_code, enrol_totp, post_code, sign_in_password
from tests.oauth.test_code_flow import REDIRECT, Browser


@pytest.fixture
def ops_rp(runner, ada):
    assert runner("roles", "create", "ops", "--scope", "users:read").exit_code == 0
    assert runner("roles", "grant", "ops", "--user", "ada@example.com").exit_code == 0
    result = runner(
        "clients", "create", "--name", "Shop", "--grant-type", "authorization_code",
        "--redirect-uri", REDIRECT, "--scope", "openid users:read", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _user_token(http, rp) -> str:
    browser = Browser(http, rp)
    callback = browser.code(scope="openid users:read")
    return browser.exchange(callback["code"]).get_json()["access_token"]


def test_a_role_requiring_mfa_refuses_password_only_tokens(http, app, runner, ada, ops_rp):
    sign_in_password(http)
    password_only = Api(http, _user_token(http, ops_rp))
    assert password_only("GET", "/users").status_code == 200

    result = runner("roles", "require-mfa", "ops")
    assert result.exit_code == 0, result.output
    refused = password_only("GET", "/users")
    assert refused.status_code == 401
    challenge = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="urn:authserver:acr:mfa"' in challenge

    with app.test_request_context("/"):
        enrol_totp(ada)
    browser = Browser(http, ops_rp)
    response = http.get(browser.authorize_url(scope="openid users:read"))
    assert response.headers["Location"] == "/login/mfa"  # the role now steps the session up
    post_code(http, app_code(ada, steps_ahead=1))
    stepped = Api(http, _user_token(http, ops_rp))
    assert stepped("GET", "/users").status_code == 200


def test_roles_carry_the_mfa_requirement(admin):
    builtin = {r["name"]: r["requires_mfa"] for r in admin("GET", "/roles").get_json()["items"]}
    assert builtin["admin"] and builtin["key-manager"] and not builtin["user"]
    created = admin("POST", "/roles", {"name": "payments", "requires_mfa": True})
    assert created.status_code == 201 and created.get_json()["requires_mfa"] is True
    etag = created.headers["ETag"]
    changed = admin("PATCH", "/roles/payments", {"requires_mfa": False}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["requires_mfa"] is False
    assert db.session.scalar(select(Role.requires_mfa).where(Role.name == "payments")) is False


def test_an_administrator_resets_a_users_factors(admin, app, ada, runner):
    with app.test_request_context("/"):
        enrol_totp(ada)
    assert admin("POST", f"/users/{ada.subject}/mfa-reset").status_code == 204
    db.session.expire_all()
    assert not service.factors_of(ada).any
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "account:mfa:reset"))
    assert event.actor.startswith("client:")
    assert admin("POST", "/users/nobody/mfa-reset").status_code == 404
    with app.test_request_context("/"):
        enrol_totp(ada)
    result = runner("users", "reset-mfa", "ada@example.com")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert not service.factors_of(ada).any
