"""Sign-in: the login form, server-side sessions, sign out, and the password rules."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from authserver.accounts.passwords import hash_password
from authserver.models import User, UserSession
from authserver.platform.extensions import db
from tests.accounts.conftest import PASSWORD, csrf_of


def test_login_page_has_labelled_fields_and_a_sign_in_button(http):
    page = http.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in page
    assert '<label for="password">Password</label>' in page
    assert '<button type="submit">Sign in</button>' in page


def test_signing_in_starts_a_server_side_session(http, sign_in):
    response = sign_in(next_url="/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    cookie = response.headers["Set-Cookie"]
    assert "authserver_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the issuer is http://localhost in tests
    row = db.session.scalar(select(UserSession))
    value = cookie.split("authserver_session=")[1].split(";")[0]
    assert value not in row.token_hash
    assert row.amr == ["pwd"] and row.ip == "127.0.0.1"
    assert "Ada" in http.get("/account").get_data(as_text=True)


def test_every_sign_in_gets_a_new_session_id(http, sign_in):
    first = sign_in().headers["Set-Cookie"]
    second = sign_in().headers["Set-Cookie"]
    assert first.split(";")[0] != second.split(";")[0]
    rows = db.session.scalars(select(UserSession).order_by(UserSession.id)).all()
    assert rows[0].ended_at is not None and rows[1].ended_at is None


def test_unknown_email_and_wrong_password_look_the_same(http, sign_in):
    wrong = sign_in(password="not the password at all")
    unknown = sign_in(email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: r.get_data(as_text=True).split('name="csrf_token"')[0]  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert "The email or password is not right." in wrong.get_data(as_text=True)
    # Both cost one argon2 verification.
    timings = []
    for email in ("ada@example.com", "nobody@example.com"):
        start = time.perf_counter()
        sign_in(email=email, password="not the password at all")
        timings.append(time.perf_counter() - start)
    assert max(timings) < 4 * min(timings)


def test_the_form_needs_its_csrf_token(http, user):
    response = http.post("/login", data={"email": user, "password": PASSWORD})
    assert response.status_code == 400
    assert db.session.scalar(select(UserSession)) is None


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/\\evil", "javascript:x"]
)
def test_next_never_leaves_the_server(sign_in, target):
    response = sign_in(next_url=target)
    assert response.headers["Location"] == "/account"


def test_sign_out_and_sign_out_everywhere(http, sign_in, app):
    sign_in()
    other = app.test_client()
    page = other.get("/login").get_data(as_text=True)
    other.post(
        "/login",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_of(page)},
    )
    page = http.get("/account").get_data(as_text=True)
    tokens = [t for t in page.split('name="csrf_token" type="hidden" value="')[1:]]
    everywhere = tokens[1].split('"')[0]
    response = http.post("/account", data={"csrf_token": everywhere})
    assert response.status_code == 303
    assert http.get("/account").status_code == 303  # back to /login
    assert other.get("/account").status_code == 303
    assert all(r.ended_at for r in db.session.scalars(select(UserSession)))


def test_an_outdated_hash_is_upgraded_at_sign_in(sign_in):
    from argon2 import PasswordHasher

    user = db.session.scalar(select(User))
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    db.session.commit()
    assert sign_in().status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(User)).password_hash.startswith(hash_password("x")[:30])


@pytest.mark.parametrize("password", ["1qaz2wsx3edc", "Q1W2E3R4T5Y6", "short"])
def test_common_and_short_passwords_are_refused(runner, password):
    result = runner("users", "create", "b@example.com", "--password-stdin", input=password + "\n")
    assert result.exit_code == 1
