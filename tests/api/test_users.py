"""/api/v1/users."""

from __future__ import annotations

import json

from tests.api.conftest import unique_email

PASSWORD = "a long and unusual passphrase"


def create(admin, **extra):
    body = {"email": unique_email(), "password": PASSWORD, "display_name": "Grace"} | extra
    return admin("POST", "/users", body)


def test_create_read_list(admin):
    response = create(admin, roles=["auditor"])
    assert response.status_code == 201
    user = response.get_json()
    assert response.headers["Location"] == f"/api/v1/users/{user['id']}"
    assert user["roles"] == ["auditor"] and user["is_active"] is True
    assert "password" not in response.get_data(as_text=True)
    assert admin("GET", f"/users/{user['id']}").get_json() == user
    listed = admin("GET", "/users").get_json()["items"]
    assert user["id"] in {u["id"] for u in listed}


def test_the_new_user_can_sign_in(admin, http):
    user = create(admin).get_json()
    page = http.get("/login").get_data(as_text=True)
    from tests.accounts.conftest import csrf_of

    response = http.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD, "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303


def test_a_duplicate_email_is_409(admin):
    email = unique_email()
    assert create(admin, email=email).status_code == 201
    response = create(admin, email=email.upper())
    assert response.status_code == 409


def test_bad_input_is_422_naming_the_field(admin):
    assert create(admin, email="not-an-email").get_json()["errors"][0]["field"] == "email"
    short = create(admin, password="short")
    assert short.status_code == 422 and short.get_json()["errors"][0]["field"] == "password"
    unknown_role = create(admin, roles=["no-such-role"])
    assert unknown_role.status_code == 422


def test_disable_through_patch_revokes_keys_and_needs_if_match(admin, runner):
    user = create(admin, roles=["admin"]).get_json()
    key = runner("apikeys", "create", "--user", user["email"], "--scope", "users:read", "--json")
    assert key.exit_code == 0, key.output
    etag = admin("GET", f"/users/{user['id']}").headers["ETag"]
    assert admin("PATCH", f"/users/{user['id']}", {"is_active": False}).status_code == 428
    response = admin(
        "PATCH", f"/users/{user['id']}", {"is_active": False}, headers={"If-Match": etag}
    )
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    listed = runner("apikeys", "list", "--json").stdout
    assert '"revoked_at": null' not in listed
    events = admin("GET", "/audit-events", query_string={"event": "account:user:disabled"})
    # Records name a person by subject; the page shows who acted by email.
    disabled = events.get_json()["items"][-1]
    assert disabled["data"]["user"] == user["id"] and "@" not in json.dumps(disabled["data"])


def test_users_are_filtered_by_email_as_keycloaks_admin_api_does(admin):
    for email in ("ann.lee@example.com", "anne@example.org", "bob@example.com"):
        created = admin("POST", "/users", {"email": email, "password": "a long passphrase 1"})
        assert created.status_code == 201
    part = admin("GET", "/users?email=ANN")
    assert sorted(u["email"] for u in part.get_json()["items"]) == [
        "ann.lee@example.com", "anne@example.org"
    ]  # fmt: skip
    exact = admin("GET", "/users?email=anne@example.org&exact=true").get_json()["items"]
    assert [u["email"] for u in exact] == ["anne@example.org"]
    wildcard = admin("GET", "/users?email=%25").get_json()["items"]
    assert wildcard == []  # % is a character to look for, not a wildcard
    assert admin("GET", "/users?email=" + "x" * 400).status_code == 422  # as other bad queries
    assert admin("GET", "/users?email=a%00b").status_code == 400  # never a 5xx
    spec = admin("GET", "/openapi.json").get_json()
    names = [p["name"] for p in spec["paths"]["/users"]["get"]["parameters"]]
    assert "email" in names and "exact" in names
