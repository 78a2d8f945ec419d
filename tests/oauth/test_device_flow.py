"""The device authorization grant (RFC 8628) through the Flask test client: the device asks for
codes and polls; its user enters the code at /device, signs in and allows or denies."""

from __future__ import annotations

import json
import re

import pytest
from joserfc import jwt
from sqlalchemy import select

from authserver.models import DeviceAuthorization
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD
from tests.oauth.test_code_flow import jwks

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def tv(runner, user):
    result = runner("clients", "create", "--name", "Living-room TV", "--public", "--grant-type",
                    f"{DEVICE_GRANT} refresh_token", "--scope", "openid profile offline_access",
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def start(http, tv, **extra) -> dict:
    response = http.post("/oauth/device_authorization",
                         data={"client_id": tv["client_id"], **extra})  # fmt: skip
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def poll(http, tv, device_code: str):
    return http.post("/oauth/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code,
                                           "client_id": tv["client_id"]})  # fmt: skip


def approve(http, user_code: str, decision: str = "Allow"):
    page = http.get(f"/device?user_code={user_code}").get_data(as_text=True)
    assert '<label for="code">Code</label>' in page and ">Continue<" in page
    entered = http.post("/device", data={"code": user_code.lower(), "csrf_token": csrf_of(page)})
    assert entered.status_code == 303
    confirm = entered.headers["Location"]
    to_login = http.get(confirm)
    assert to_login.status_code == 303 and to_login.headers["Location"].startswith("/login?")
    login_page = http.get(to_login.headers["Location"]).get_data(as_text=True)
    form = {"email": "ada@example.com", "password": PASSWORD, "next": confirm,
            "csrf_token": csrf_of(login_page)}  # fmt: skip
    signed_in = http.post("/login", data=form)
    assert signed_in.headers["Location"] == confirm
    consent = http.get(confirm).get_data(as_text=True)
    assert "Living-room TV wants to" in consent
    field = "allow" if decision == "Allow" else "deny"
    return http.post(confirm, data={"csrf_token": csrf_of(consent), field: decision})


def test_a_device_gets_tokens_after_its_user_allows(http, tv):
    clock.freeze()
    codes = start(http, tv, scope="openid profile offline_access")
    assert re.fullmatch(r"[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}", codes["user_code"])
    assert codes["verification_uri"] == "http://localhost:5000/device"
    assert codes["interval"] == 5 and codes["expires_in"] == 600
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "authorization_pending"
    # Faster than the interval: slow_down, and the interval grows by 5 s (RFC 8628 §3.5).
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "slow_down"
    clock.advance(6)
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "slow_down"
    clock.advance(11)
    done = approve(http, codes["user_code"])
    assert done.status_code == 200 and "Device connected" in done.get_data(as_text=True)
    token = poll(http, tv, codes["device_code"])
    assert token.status_code == 200, token.get_json()
    body = token.get_json()
    assert body["scope"] == "openid profile offline_access" and "refresh_token" in body
    claims = jwt.decode(body["access_token"], jwks(http)).claims
    assert claims["amr"] == ["pwd"] and claims["client_id"] == tv["client_id"]
    # The device code works once.
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "invalid_grant"
    refreshed = http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id":
                          tv["client_id"], "refresh_token": body["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 200, refreshed.get_json()


TV_API = "https://tv-api.example/"


def test_a_device_asks_for_a_resource_as_any_authorization_does(http, runner, user):
    """RFC 8707 at the device authorization endpoint: an unregistered resource is
    invalid_target; an authorized one is the token's audience, also after a refresh."""
    made = runner("clients", "create", "--name", "Living-room TV", "--public", "--grant-type",
                  f"{DEVICE_GRANT} refresh_token", "--scope", "openid offline_access",
                  "--resource", TV_API, "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    tv = json.loads(made.stdout)
    refused = http.post("/oauth/device_authorization", data={
        "client_id": tv["client_id"], "resource": "https://elsewhere.example/"})  # fmt: skip
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"
    codes = start(http, tv, scope="openid offline_access", resource=TV_API)
    assert approve(http, codes["user_code"]).status_code == 200
    token = poll(http, tv, codes["device_code"])
    assert token.status_code == 200, token.get_json()
    body = token.get_json()
    assert jwt.decode(body["access_token"], jwks(http)).claims["aud"] == TV_API
    refreshed = http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id":
                          tv["client_id"], "refresh_token": body["refresh_token"]})  # fmt: skip
    assert jwt.decode(refreshed.get_json()["access_token"], jwks(http)).claims["aud"] == TV_API


def test_a_denial_is_access_denied(http, tv):
    codes = start(http, tv)
    assert "not connected" in approve(http, codes["user_code"], "Deny").get_data(as_text=True)
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "access_denied"


def test_codes_expire(http, tv):
    clock.freeze()
    codes = start(http, tv)
    clock.advance(601)
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "expired_token"
    page = http.get("/device").get_data(as_text=True)
    late = http.post("/device", data={"code": codes["user_code"], "csrf_token": csrf_of(page)})
    assert late.status_code == 400 and "not valid or has expired" in late.get_data(as_text=True)


def test_codes_are_stored_as_hashes_and_bad_requests_are_refused(http, tv, make_client):
    codes = start(http, tv)
    row = db.session.scalar(select(DeviceAuthorization))
    assert codes["device_code"] not in (row.device_code_hash, row.user_code_hash)
    assert poll(http, tv, "nonsense").get_json()["error"] == "invalid_request"
    other = make_client()  # no device grant registered
    refused = http.post("/oauth/device_authorization", data={"scope": ""}, headers=other.basic())
    assert refused.status_code == 400 and refused.get_json()["error"] == "unauthorized_client"
    assert http.post("/oauth/device_authorization",
                     data={"client_id": tv["client_id"], "scope": "admin:everything"}
                     ).get_json()["error"] == "invalid_scope"  # fmt: skip


def test_discovery_names_the_endpoint(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert (
        meta["device_authorization_endpoint"] == "http://localhost:5000/oauth/device_authorization"
    )
    assert DEVICE_GRANT in meta["grant_types_supported"]


def test_the_device_page_asks_for_the_second_factor(app, http, tv):
    from authserver.models import User
    from tests.mfa.conftest import app_code, enrol_totp, post_code

    ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
    with app.test_request_context("/"):
        enrol_totp(ada)
    codes = start(http, tv, scope="openid")
    page = http.get("/device").get_data(as_text=True)
    entered = http.post("/device", data={"code": codes["user_code"], "csrf_token": csrf_of(page)})
    confirm = entered.headers["Location"]
    login = http.get(http.get(confirm).headers["Location"]).get_data(as_text=True)
    form = {"email": "ada@example.com", "password": PASSWORD, "next": confirm,
            "csrf_token": csrf_of(login)}  # fmt: skip
    assert http.post("/login", data=form).headers["Location"] == "/login/mfa"
    assert post_code(http, app_code(ada, steps_ahead=1)).headers["Location"] == confirm
    consent = http.get(confirm).get_data(as_text=True)
    http.post(confirm, data={"csrf_token": csrf_of(consent), "allow": "Allow"})
    body = poll(http, tv, codes["device_code"]).get_json()
    assert jwt.decode(body["access_token"], jwks(http)).claims["amr"] == ["mfa", "otp", "pwd"]


def test_concurrent_fast_polls_each_raise_the_interval(app, http, tv):
    """RFC 8628 §3.5: every slow_down adds 5 s; polls at once must not lose an addition (the
    interval is raised in the UPDATE, not written back from what each poll read)."""
    import threading

    codes = start(http, tv)
    assert poll(http, tv, codes["device_code"]).get_json()["error"] == "authorization_pending"
    polls, barrier, answers = 6, threading.Barrier(6), []

    def fast_poll() -> None:
        client = app.test_client()
        barrier.wait(timeout=30)
        answers.append(poll(client, tv, codes["device_code"]).get_json()["error"])

    threads = [threading.Thread(target=fast_poll) for _ in range(polls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == ["slow_down"] * polls
    db.session.expire_all()
    row = db.session.scalar(select(DeviceAuthorization))
    assert row.interval_seconds == 5 + 5 * polls
