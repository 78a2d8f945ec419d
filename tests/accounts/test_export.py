"""A person's data export (GDPR Art. 15, 20): one versioned JSON document with everything the
server holds about the person and nothing secret, the same from the CLI, the admin API (its own
permission) and the account page; another person's data is not in it."""

from __future__ import annotations

import json

from sqlalchemy import select

from authserver.accounts.service import find_user
from authserver.accounts.sessions import start_session
from authserver.models import ApiKey, User
from authserver.oauth.consent import remember_consent
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from tests.accounts.conftest import csrf_of
from tests.api.conftest import Api, caller  # noqa: F401 (fixture)

SECTIONS = {"format", "version", "exported_at", "profile", "roles", "second_factors", "sessions",
            "consents", "api_keys", "audit_events"}  # fmt: skip


def _a_person_with_everything(runner, user: str) -> dict:
    """ada with a role, a session, a consent and an API key; bob beside her."""
    runner("roles", "create", "orders", "--scope", "orders:read")
    runner("roles", "grant", "orders", "--user", user)
    runner("users", "create", "bob@example.com")
    client = json.loads(runner("clients", "create", "--name", "Shop", "--json").stdout)
    key = json.loads(runner("apikeys", "create", "--user", user, "--scope", "orders:read",
                            "--name", "laptop", "--json").stdout)  # fmt: skip
    person = find_user(user)
    start_session(current_runtime().settings, person, amr=["pwd"], ip="198.51.100.7",
                  user_agent="Firefox/140")  # fmt: skip
    start_session(current_runtime().settings, find_user("bob@example.com"), amr=["pwd"],
                  ip="203.0.113.99", user_agent="Bob's browser")  # fmt: skip
    remember_consent(person, client["client_id"], "openid email")
    db.session.commit()
    return {"client": client, "key": key}


def test_the_export_holds_everything_about_the_person_and_no_secret(app, runner, user):
    made = _a_person_with_everything(runner, user)
    result = runner("users", "export", user, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == SECTIONS
    assert (document["format"], document["version"]) == ("authserver.person-export", 1)
    assert document["profile"]["email"] == user and document["profile"]["display_name"] == "Ada"
    assert document["roles"] == ["orders"]
    (session,) = document["sessions"]
    assert (session["ip"], session["user_agent"], session["methods"]) == (
        "198.51.100.7", "Firefox/140", ["pwd"]
    )  # fmt: skip
    (consent,) = document["consents"]
    assert consent["client_name"] == "Shop" and set(consent["scope"].split()) == {"openid", "email"}
    (key,) = document["api_keys"]
    assert key["name"] == "laptop" and key["masked"] == made["key"]["masked"]
    events = {e["event"] for e in document["audit_events"]}
    assert {"account:user:created", "rbac:role:granted", "account:session:started",
            "apikey:key:created"} <= events  # fmt: skip
    assert document["second_factors"] == {"authenticator_app": None, "passkeys": [],
                                          "recovery_codes_left": 0}  # fmt: skip

    text = json.dumps(document)
    stored = db.session.scalar(select(ApiKey).where(ApiKey.owner_user_id == find_user(user).id))
    person = db.session.scalar(select(User).where(User.email == user))
    for secret in (made["key"]["key"], stored.secret_hash, person.password_hash):
        assert secret not in text
    for other in ("bob@example.com", "203.0.113.99", "Bob's browser"):
        assert other not in text  # another person's data
    exported = runner("audit", "tail", "-n", "1").output
    assert "account:data:exported" in exported and "198.51.100.7" not in exported


def test_the_admin_api_exports_with_its_own_permission_only(app, runner, user, caller):  # noqa: F811
    _a_person_with_everything(runner, user)
    subject = find_user(user).subject
    reader = caller("users:read")
    refused = reader("GET", f"/users/{subject}/export")
    assert refused.status_code == 403 and "users:export" in refused.get_json()["detail"]
    exporter: Api = caller("users:export")
    answer = exporter("GET", f"/users/{subject}/export")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    document = answer.get_json()
    assert set(document) == SECTIONS and document["profile"]["subject"] == subject
    again = exporter("GET", f"/users/{subject}/export").get_json()["audit_events"]
    by_others = [e for e in again if e["actor"] != user]
    assert by_others  # the first export, among others, named the person
    assert not any("ip" in e["details"] or "user_agent" in e["details"] for e in by_others)
    assert exporter("GET", "/users/nobody/export").status_code == 404
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "/users/{user_id}/export" in spec["paths"]


def test_a_signed_in_person_downloads_their_own_data(http, sign_in, user):
    assert http.post("/account/export").status_code in (302, 303)  # not signed in
    assert sign_in().status_code == 303
    page = http.get("/account").get_data(as_text=True)
    assert "Download my data" in page
    assert http.post("/account/export", data={}).status_code == 400  # no CSRF token
    download = http.post("/account/export", data={"csrf_token": csrf_of(page)})
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    document = json.loads(download.get_data(as_text=True))
    assert document["profile"]["email"] == user and document["sessions"]
