"""The admin API's common behaviour: authentication (RFC 6750), problem details (RFC 9457),
strict JSON input, ETag/If-Match, cursor pagination, deprecation headers, the OpenAPI document."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import unique_email


def test_no_credentials_is_401_with_a_bare_challenge(anonymous):
    response = anonymous("GET", "/users")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    # RFC 6750 §3.1: no error code without credentials; RFC 9449 §7.1: DPoP is offered too.
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="authserver", DPoP realm="authserver", algs="')
    assert "error" not in challenge
    assert response.get_json()["status"] == 401


@pytest.mark.parametrize("token", ["nonsense", "a.b.c", "ask_0000000000000000_" + "x" * 50])
def test_a_bad_token_is_401_invalid_token(http, token):
    response = http.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_is_refused(http, make_client, get_token):
    client = make_client("users:read")
    token = get_token(client)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v1/users", headers=headers).status_code == 200
    http.post("/oauth/revoke", data={"token": token}, headers=client.basic())
    assert http.get("/api/v1/users", headers=headers).status_code == 401


def test_a_missing_permission_is_403_insufficient_scope(caller):
    reader = caller("users:read")
    assert reader("GET", "/users").status_code == 200
    response = reader("POST", "/users", {"email": unique_email(), "password": "x" * 16})
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="users:write"' in challenge


def test_permissions_come_from_roles_not_from_the_registration(make_client, get_token, http):
    # Registered for users:read, but no role grants it: the token does not carry it.
    client = make_client("users:read", permitted=False)
    token = get_token(client)
    assert token["scope"] == ""
    response = http.get(
        "/api/v1/users", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 403


def test_builtin_admin_role_permits_everything(caller):
    admin = caller(role="admin")
    assert admin("GET", "/audit-events").status_code == 200
    assert admin("GET", "/keys").status_code == 200


def test_an_api_key_authenticates_with_its_scopes(http, runner, make_client):
    owner = make_client("users:read")
    created = runner(
        "apikeys", "create", "--client", owner.client_id, "--scope", "users:read", "--json"
    )
    key = json.loads(created.stdout)["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert http.get("/api/v1/users", headers=headers).status_code == 200
    assert http.get("/api/v1/clients", headers=headers).status_code == 403


def test_an_api_key_never_grants_more_than_its_owner_holds_today(http, runner, make_client):
    owner = make_client("users:read")
    key = json.loads(
        runner(
            "apikeys", "create", "--client", owner.client_id, "--scope", "users:read", "--json"
        ).stdout
    )["key"]
    role = runner("roles", "list", "--json")
    name = next(r["name"] for r in json.loads(role.stdout) if r["name"].startswith("client-"))
    assert runner("roles", "revoke", name, "--client", owner.client_id).exit_code == 0
    response = http.get("/api/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_json_only(admin):
    response = admin(
        "POST", "/roles", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    broken = admin("POST", "/roles", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
    array = admin("POST", "/roles", data="[]", content_type="application/json")
    assert array.status_code == 400


def test_validation_errors_name_the_field(admin):
    response = admin("POST", "/roles", {"name": "Not A Name", "colour": "red"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert fields == {"name", "colour"}


def test_types_are_strict(admin):
    response = admin("POST", "/users", {"email": unique_email(), "password": 123456789012})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "password"


def test_service_rules_answer_422_naming_the_field(admin):
    response = admin("POST", "/users", {"email": unique_email(), "password": "1qaz2wsx3edc"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "password", "message": "one of the most common passwords; choose another"}
    ]


def test_an_oversized_body_is_413_problem(admin):
    response = admin("POST", "/roles", data="x" * 2_000_000, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_unknown_paths_and_methods_are_problems(admin):
    assert admin("GET", "/nothing-here").mimetype == "application/problem+json"
    response = admin("DELETE", "/users")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.mimetype == "application/problem+json"


def test_updates_need_the_current_etag(admin):
    role = admin("POST", "/roles", {"name": "editors", "permissions": ["orders:write"]})
    assert role.status_code == 201
    etag = role.headers["ETag"]
    change = {"description": "People who edit"}
    assert admin("PATCH", "/roles/editors", change).status_code == 428
    stale = admin("PATCH", "/roles/editors", change, headers={"If-Match": '"0"'})
    assert stale.status_code == 412
    done = admin("PATCH", "/roles/editors", change, headers={"If-Match": etag})
    assert done.status_code == 200 and done.get_json()["description"] == "People who edit"
    # The ETag moved on: a second writer holding the first one is refused.
    again = admin("PATCH", "/roles/editors", {"description": "x"}, headers={"If-Match": etag})
    assert again.status_code == 412
    assert admin("GET", "/roles/editors").headers["ETag"] == done.headers["ETag"]


def test_lists_are_cursor_paginated(admin):
    for _ in range(5):
        admin("POST", "/roles", {"name": f"r-{unique_email()[2:10]}"})
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = admin("GET", "/roles", query_string=query).get_json()
        assert len(body["items"]) <= 3
        seen += [r["name"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    everything = admin("GET", "/roles", query_string={"limit": 100}).get_json()["items"]
    assert seen == [r["name"] for r in everything] and len(seen) >= 10


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "!!"}, {"colour": 1}]
)
def test_bad_paging_parameters_are_4xx(admin, query):
    response = admin("GET", "/roles", query_string=query)
    assert response.status_code in (400, 422)
    assert response.mimetype == "application/problem+json"


def test_a_deprecated_operation_says_so_and_names_its_successor(admin, make_client):
    client = make_client("orders:read")
    response = admin("POST", f"/clients/{client.client_id}/secret")
    assert response.status_code == 201
    assert response.headers["Deprecation"].startswith("@")
    assert "GMT" in response.headers["Sunset"]
    assert response.headers["Link"] == (
        f'</api/v1/clients/{client.client_id}/secret-rotations>; rel="successor-version"'
    )
    current = admin("POST", f"/clients/{client.client_id}/secret-rotations", {})
    assert "Deprecation" not in current.headers


def test_the_openapi_document_describes_every_operation(http, app):
    from authserver.api.v1.framework import OPERATIONS

    document = http.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert documented == {(op.method, op.path) for op in OPERATIONS}
    deprecated = document["paths"]["/clients/{client_id}/secret"]["post"]
    assert deprecated["deprecated"] is True
    create_user = document["paths"]["/users"]["post"]
    schema = document["components"]["schemas"]["UserCreate"]
    assert schema["additionalProperties"] is False and "email" in schema["required"]
    assert create_user["x-permission"] == "users:write"
    assert "422" in create_user["responses"] and "401" in create_user["responses"]


def test_the_reference_page_is_served_without_a_cdn(http):
    page = http.get("/api/v1/docs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "openapi.json" in text and "https://" not in text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/roles", {"name": "ops", "description": "a\x00b"}),
        ("/api-keys", {"scopes": ["users:read"], "owner_user": "\ud800"}),
        ("/users/x%00y", None),
    ],
)
def test_unstorable_strings_are_400_not_a_database_error(admin, path, body):
    # Found by schemathesis on PostgreSQL, which stores neither NUL nor lone surrogates.
    response = admin("POST" if body is not None else "GET", path, body)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
