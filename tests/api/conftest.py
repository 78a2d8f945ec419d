"""Admin API fixtures: callers holding chosen permissions, through roles, as in production."""

from __future__ import annotations

import secrets

import pytest

from authserver.rbac.permissions import Permission

ALL = " ".join(p.value for p in Permission)
#: An administrator of the API scopes the tests hand out: no one gives away a permission it
#: does not hold (rbac.containment), so an admin that issues orders:read keys holds orders:read.
ADMIN = ALL + " orders:read orders:write"


class Api:
    """The test client with a bearer token and JSON bodies."""

    def __init__(self, http, token: str | None) -> None:
        self.http = http
        self.token = token

    def __call__(self, method: str, path: str, body=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if body is not None:
            kwargs["json"] = body
        return self.http.open("/api/v1" + path, method=method, headers=headers, **kwargs)


@pytest.fixture
def caller(http, make_client, get_token):
    """``caller("users:read")``: an Api whose token carries those permissions."""

    def make(permissions: str = ALL, *, role: str | None = None) -> Api:
        if role is None:  # a role of its own carrying exactly ``permissions``
            client = make_client(permissions)
        else:  # a built-in role; admin and key-manager bind users, so a client needs --force
            client = make_client(permissions, "--role", role, "--force-mfa-roles", permitted=False)
        return Api(http, get_token(client)["access_token"])

    return make


@pytest.fixture
def admin(caller) -> Api:
    return caller(ADMIN)


@pytest.fixture
def anonymous(http) -> Api:
    return Api(http, None)


def unique_email() -> str:
    return f"u-{secrets.token_hex(4)}@example.com"
