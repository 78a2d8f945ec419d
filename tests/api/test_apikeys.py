"""/api/v1/api-keys: the full key appears once; scopes never exceed the owner's."""

from __future__ import annotations


def test_issue_use_rotate_revoke(admin, make_client, http):
    owner = make_client("orders:read")
    created = admin(
        "POST", "/api-keys",
        {"owner_client": owner.client_id, "scopes": ["orders:read"], "name": "ci"},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    key, key_id = body["key"], body["id"]
    assert body["display"].endswith(key[-4:]) and key not in body["display"]
    read = admin("GET", f"/api-keys/{key_id}")
    assert key not in read.get_data(as_text=True)
    assert key not in admin("GET", "/api-keys").get_data(as_text=True)

    def active(k: str) -> bool:
        return http.post("/oauth/introspect", data={"token": k}, headers=owner.basic()).get_json()[
            "active"
        ]

    assert active(key)
    rotated = admin("POST", f"/api-keys/{key_id}/rotations", {"grace_seconds": 0})
    assert rotated.status_code == 201
    new = rotated.get_json()
    assert active(new["key"]) and not active(key)
    assert admin("POST", f"/api-keys/{new['id']}/revocation", {"reason": "done"}).status_code == 200
    assert not active(new["key"])


def test_scopes_beyond_the_owner_are_refused(admin, make_client):
    owner = make_client("orders:read")
    response = admin(
        "POST", "/api-keys", {"owner_client": owner.client_id, "scopes": ["orders:write"]}
    )
    assert response.status_code == 422


def test_exactly_one_owner(admin, make_client):
    owner = make_client("orders:read")
    both = admin(
        "POST", "/api-keys",
        {"owner_client": owner.client_id, "owner_user": "a@example.com", "scopes": ["x"]},
    )  # fmt: skip
    assert both.status_code == 422
    nobody = admin("POST", "/api-keys", {"owner_client": "nobody", "scopes": ["x"]})
    assert nobody.status_code == 422


def test_a_key_rotates_once_and_a_revoked_one_not_at_all(admin, make_client):
    owner = make_client("orders:read")
    key = admin(
        "POST", "/api-keys", {"owner_client": owner.client_id, "scopes": ["orders:read"]}
    ).get_json()
    path = f"/api-keys/{key['id']}/rotations"
    assert admin("POST", path, {"grace_seconds": 60}).status_code == 201
    assert admin("POST", path, {"grace_seconds": 60}).status_code == 409
    other = admin(
        "POST", "/api-keys", {"owner_client": owner.client_id, "scopes": ["orders:read"]}
    ).get_json()
    admin("POST", f"/api-keys/{other['id']}/revocation", {})
    assert admin("POST", f"/api-keys/{other['id']}/rotations", {}).status_code == 409
