"""/api/v1/roles: built-ins, custom roles, assignments, and scope narrowing by role."""

from __future__ import annotations

import json


def test_builtin_roles_exist_and_cannot_be_deleted_or_reduced(admin):
    names = {
        r["name"] for r in admin("GET", "/roles", query_string={"limit": 100}).get_json()["items"]
    }
    assert {"admin", "key-manager", "auditor", "resource-server", "user"} <= names
    assert admin("DELETE", "/roles/admin").status_code == 409
    etag = admin("GET", "/roles/auditor").headers["ETag"]
    reduce = admin(
        "PATCH", "/roles/auditor", {"remove_permissions": ["audit:read"]},
        headers={"If-Match": etag},
    )  # fmt: skip
    assert reduce.status_code == 409
    extend = admin(
        "PATCH", "/roles/auditor", {"add_permissions": ["orders:read"]},
        headers={"If-Match": etag},
    )  # fmt: skip
    assert extend.status_code == 200 and "orders:read" in extend.get_json()["permissions"]


def test_auditor_reads_but_does_not_write(caller):
    auditor = caller("users:read audit:read keys:read", role="auditor")
    assert auditor("GET", "/audit-events").status_code == 200
    assert auditor("GET", "/keys").status_code == 200
    assert auditor("POST", "/key-rotations", {}).status_code == 403


def test_create_assign_and_delete_a_role(admin, make_client, get_token, http):
    assert (
        admin("POST", "/roles", {"name": "orders", "permissions": ["orders:read"]}).status_code
        == 201
    )
    assert admin("POST", "/roles", {"name": "orders"}).status_code == 409
    client = make_client("orders:read", permitted=False)
    assert get_token(client, scope="orders:read")["scope"] == ""
    assert admin("PUT", f"/roles/orders/clients/{client.client_id}").status_code == 204
    members = admin("GET", "/roles/orders/members").get_json()
    assert members["clients"] == [client.client_id]
    # The granted scope = asked ∩ registered ∩ permitted through roles; the token says so.
    from authserver.platform.runtime import current_runtime

    current_runtime().clients.invalidate()  # other workers: within the refresh interval
    token = get_token(client, scope="orders:read")
    assert token["scope"] == "orders:read"
    claims = json.loads(http.post("/oauth/introspect", data={"token": token["access_token"]},
                                  headers=client.basic()).get_data())  # fmt: skip
    assert claims["scope"] == "orders:read" and claims["roles"] == ["orders"]
    assert admin("DELETE", f"/roles/orders/clients/{client.client_id}").status_code == 204
    assert admin("DELETE", "/roles/orders").status_code == 204
    assert admin("GET", "/roles/orders").status_code == 404


def test_user_roles_narrow_code_flow_scopes(admin, runner):
    user = admin("POST", "/users", {"email": "bo@example.com", "password": "x" * 20}).get_json()
    assert admin("PUT", f"/roles/key-manager/users/{user['id']}").status_code == 204
    assert admin("GET", f"/users/{user['id']}").get_json()["roles"] == ["key-manager"]
    assert admin("DELETE", f"/roles/key-manager/users/{user['id']}").status_code == 204
    assert admin("GET", f"/users/{user['id']}").get_json()["roles"] == []
