"""Account self-service: change one's own password (other devices signed out, old tokens
dead), see where one is signed in and sign out one device, see the applications one allowed
and take access back (their refresh tokens go with it)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver.accounts.service import authenticate, find_user
from authserver.accounts.sessions import find_session, start_session
from authserver.models import AuditEvent, ConsentGrant, RefreshToken
from authserver.oauth.consent import remember_consent
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from tests.accounts.conftest import PASSWORD, csrf_of

NEW = "a brand new passphrase"


def _other_device(email: str = "ada@example.com") -> str:
    cookie, _ = start_session(current_runtime().settings, find_user(email), amr=["pwd"],
                              ip="198.51.100.20", user_agent="Phone browser")  # fmt: skip
    db.session.commit()
    return cookie


def _change(http: FlaskClient, current: str, new: str, confirm: str | None = None):
    page = http.get("/account/password").get_data(as_text=True)
    return http.post("/account/password", data={
        "current_password": current, "new_password": new, "confirm": confirm or new,
        "csrf_token": csrf_of(page),
    })  # fmt: skip


def test_changing_ones_password_signs_out_the_other_devices(http, sign_in, user):
    assert sign_in().status_code == 303
    phone = _other_device()
    wrong = _change(http, "not my password at all", NEW)
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(True)
    ada = find_user(user).actor
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.event == "account:sign-in:failed", AuditEvent.actor == ada))  # fmt: skip
    common = _change(http, PASSWORD, "1qaz2wsx3edc")
    assert common.status_code == 400 and "most common" in common.get_data(as_text=True)
    mismatch = _change(http, PASSWORD, NEW, confirm=NEW + "x")
    assert mismatch.status_code == 400 and "differ" in mismatch.get_data(as_text=True)
    db.session.expire_all()
    assert find_session(phone) is not None  # nothing changed yet

    done = _change(http, PASSWORD, NEW)
    assert done.status_code == 200 and "1 other device(s) were signed out" in done.get_data(True)
    db.session.expire_all()
    assert find_session(phone) is None
    assert authenticate(user, NEW) is not None and authenticate(user, PASSWORD) is None
    assert http.get("/account").status_code == 200  # this device stays signed in


def test_the_password_page_needs_a_signed_in_person_and_its_form_token(http, sign_in, user):
    assert http.get("/account/password").status_code == 303
    sign_in()
    refused = http.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW, "confirm": NEW},
    )
    assert refused.status_code == 400
    db.session.expire_all()
    assert authenticate(user, PASSWORD) is not None


def test_one_device_is_signed_out_and_nobody_elses(http, sign_in, user, runner):
    sign_in()
    phone = _other_device()
    runner("users", "create", "bob@example.com", "--password-stdin", input=PASSWORD + "\n")
    bobs = _other_device("bob@example.com")
    page = http.get("/account").get_data(as_text=True)
    assert "Phone browser" in page and "198.51.100.20" in page and "this device" in page
    token = csrf_of(page)
    bob_sid = find_session(bobs).sid
    assert http.post(f"/account/sessions/{bob_sid}/end",
                     data={"csrf_token": token}).status_code == 404  # fmt: skip
    # Never a 5xx: a NUL (which PostgreSQL refuses in text) is a 400, an unknown id a 404.
    for odd, status in (("%00", 400), ("a%00b", 400), ("x" * 500, 404)):
        assert http.post(f"/account/sessions/{odd}/end",
                         data={"csrf_token": token}).status_code == status  # fmt: skip
        assert http.post(f"/account/consents/{odd}/withdraw",
                         data={"csrf_token": token}).status_code == status  # fmt: skip
    phone_sid = find_session(phone).sid
    assert http.post(f"/account/sessions/{phone_sid}/end").status_code == 400  # no token
    assert http.post(f"/account/sessions/{phone_sid}/end",
                     data={"csrf_token": token}).status_code == 303  # fmt: skip
    db.session.expire_all()
    assert find_session(phone) is None and find_session(bobs) is not None


@pytest.fixture
def two_apps(runner):
    import json

    made = []
    for name in ("Shop", "Game"):
        result = runner("clients", "create", "--name", name, "--grant-type",
                        "authorization_code refresh_token", "--redirect-uri",
                        "https://rp.example/cb", "--json")  # fmt: skip
        made.append(json.loads(result.stdout)["client_id"])
    return made


def _refresh_token(user_id: int, client_id: str) -> RefreshToken:
    now = clock.now()
    row = RefreshToken(token_hash=f"h-{client_id}", family_id=f"f-{client_id}",
                       client_id=client_id, user_id=user_id, scope="openid", auth_time=now,
                       created_at=now, expires_at=now.replace(year=now.year + 1),
                       idle_expires_at=now.replace(year=now.year + 1))  # fmt: skip
    db.session.add(row)
    return row


def test_taking_back_an_applications_access_revokes_its_refresh_tokens(http, sign_in, user,
                                                                       two_apps):  # fmt: skip
    shop, game = two_apps
    person = find_user(user)
    for client_id in two_apps:
        remember_consent(person, client_id, "openid email")
        _refresh_token(person.id, client_id)
    db.session.commit()
    sign_in()
    page = http.get("/account").get_data(as_text=True)
    assert "Shop" in page and "See your email address" in page
    token = csrf_of(page)
    assert http.post("/account/consents/nope/withdraw",
                     data={"csrf_token": token}).status_code == 404  # fmt: skip
    assert http.post(f"/account/consents/{shop}/withdraw",
                     data={"csrf_token": token}).status_code == 303  # fmt: skip
    db.session.expire_all()
    grants = {g.client_id for g in db.session.scalars(select(ConsentGrant))}
    assert grants == {game}
    revoked = {t.client_id: t.revoked_at is not None for t in db.session.scalars(
        select(RefreshToken))}  # fmt: skip
    assert revoked == {shop: True, game: False}
    assert "Shop" not in http.get("/account").get_data(as_text=True)
