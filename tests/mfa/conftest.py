"""MFA fixtures: a user in the database, and the code their authenticator app shows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.mfa import service, totp
from authserver.models import TotpCredential, User
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.api.conftest import admin, caller  # noqa: F401 (fixtures)
from tests.conftest import PASSWORD
from tests.oauth.test_code_flow import rp  # noqa: F401 (fixture)


@pytest.fixture
def ada(app, user) -> User:
    return db.session.scalar(select(User).where(User.email == user))


def app_code(user: User, steps_ahead: int = 0) -> str:
    """What the user's authenticator app shows now (or ``steps_ahead`` steps later)."""
    row = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))
    return totp.code_at(service.totp_secret(row), totp.step_at(clock.now()) + steps_ahead)


def enrol_totp(user: User) -> list[str]:
    service.begin_totp(user)
    codes = service.confirm_totp(user, app_code(user))
    db.session.commit()
    return codes


def sign_in_password(http, email="ada@example.com", next_url="/account"):
    page = http.get("/login").get_data(as_text=True)
    return http.post(
        "/login",
        data={"email": email, "password": PASSWORD, "next": next_url, "csrf_token": csrf_of(page)},
    )


def post_code(http, code: str, field="code"):
    page = http.get("/login/mfa").get_data(as_text=True)
    return http.post("/login/mfa", data={field: code, "csrf_token": csrf_of(page)})
