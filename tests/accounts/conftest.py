"""Browser-flow helpers: read the CSRF token from a page, sign in through the form."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD  # noqa: F401 (re-exported for the tests)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def sign_in(http, user):
    def do(email=user, password=PASSWORD, next_url=None):
        page = http.get("/login" + (f"?next={next_url}" if next_url else "")).get_data(as_text=True)
        form = {"email": email, "password": password, "csrf_token": csrf_of(page)}
        if next_url:
            form["next"] = next_url
        return http.post("/login", data=form)

    return do


# Last: that module reads csrf_of from this one.
from tests.oauth.test_code_flow import rp  # noqa: E402, F401 (fixture)
