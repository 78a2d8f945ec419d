"""The server on PostgreSQL: init, a token, introspection, revocation, bad input."""

from __future__ import annotations

import json

import pytest

from authserver.cli import cli
from authserver.platform.extensions import db
from tests.conftest import init_app, make_app
from tests.pg import postgres_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.postgres


def test_token_introspection_and_revocation_on_postgresql(tmp_path, postgres_url):  # noqa: F811
    app = make_app(tmp_path, database_url=postgres_url())
    init_app(app)
    created = app.test_cli_runner().invoke(
        cli, ["clients", "create", "--name", "pg", "--scope", "a", "--json"]
    )
    client = json.loads(created.stdout)
    auth = (client["client_id"], client["client_secret"])
    http = app.test_client()
    token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert token.status_code == 200
    access = token.get_json()["access_token"]
    assert http.post("/oauth/introspect", data={"token": access}, auth=auth).get_json()["active"]
    assert http.post("/oauth/revoke", data={"token": access}, auth=auth).status_code == 200
    assert http.post("/oauth/introspect", data={"token": access}, auth=auth).get_json() == {
        "active": False
    }
    # PostgreSQL refuses NUL in text: the guard answers first, with a 4xx.
    nul = http.post(
        "/oauth/token",
        data="grant_type=client_credentials&client_id=a%00b&client_secret=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert nul.status_code == 400 and nul.get_json()["error"] == "invalid_request"
    assert http.get("/readyz").status_code == 200
    with app.app_context():
        db.engine.dispose()
