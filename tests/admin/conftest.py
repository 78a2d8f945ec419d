"""Admin-page fixtures: an administrator signed in with password and authenticator code, and
people holding other roles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.models import User
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD
from tests.mfa.conftest import app_code, enrol_totp, post_code, sign_in_password


def make_person(app, runner, email: str, *roles: str, totp: bool = True) -> User:
    args = ["users", "create", email, "--password-stdin"]
    for role in roles:
        args += ["--role", role]
    result = runner(*args, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    person = db.session.scalar(select(User).where(User.email == email))
    if totp:
        with app.test_request_context("/"):
            enrol_totp(person)
    return person


def sign_in_with_code(http, person: User, next_url: str = "/admin") -> None:
    response = sign_in_password(http, email=person.email, next_url=next_url)
    assert response.headers["Location"] == "/login/mfa", response.get_data(as_text=True)[:300]
    done = post_code(http, app_code(person, steps_ahead=1))
    assert done.status_code == 303, done.get_data(as_text=True)[:300]


@pytest.fixture
def admin_user(app, runner) -> User:
    return make_person(app, runner, "root@example.com", "admin")


@pytest.fixture
def as_admin(http, admin_user):
    sign_in_with_code(http, admin_user)
    return http


def form_of(http, path: str) -> str:
    """The CSRF token of the page at ``path``."""
    page = http.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return csrf_of(page.get_data(as_text=True))
