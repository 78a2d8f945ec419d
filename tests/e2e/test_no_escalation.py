"""No principal exceeds its own permissions: every escalation path the review reproduced, as a
named test through HTTP against `authserver serve` (SQLite, and PostgreSQL in the second pass).

The operator bootstraps one administrator client with the CLI; everything else is done through
the admin API by principals holding narrow permissions, as an attacker holding one would."""

from __future__ import annotations

import json
import secrets

import pytest
import requests

from authserver.rbac.permissions import Permission
from tests.server_process import ServerProcess

SERVER_PERMISSIONS = " ".join(p.value for p in Permission)
API_SCOPES = "orders:read orders:write"
EVERYTHING = f"{SERVER_PERMISSIONS} {API_SCOPES}"


class Principal:
    """A client of the served process that calls the admin API with a fresh token."""

    def __init__(self, server: ServerProcess, client_id: str, secret: str | None) -> None:
        self.server, self.client_id, self.secret = server, client_id, secret

    def token(self) -> str:
        response = requests.post(
            self.server.issuer + "/oauth/token", data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.secret), timeout=10,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def __call__(self, method: str, path: str, body: dict | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, self.server.issuer + "/api/v1" + path, json=body,
                                headers=headers, timeout=10, **kwargs)  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("escalation"))
    server.cli("init")
    # Administrators hand out only what they hold: the operator gives admins the API's scopes.
    server.cli("roles", "update", "admin", "--add", API_SCOPES)
    root = json.loads(server.cli("clients", "create", "--name", "root", "--role", "admin",
                                 "--force-mfa-roles", "--scope", EVERYTHING, "--json"))  # fmt: skip
    with server.running():
        yield server, Principal(server, root["client_id"], root["client_secret"])


@pytest.fixture
def root(served) -> Principal:
    return served[1]


@pytest.fixture
def principal(served, root):
    """``principal("apikeys:write")``: a client whose one role carries exactly those
    permissions, made by the administrator through the API."""

    def make(permissions: str, *, scope: str = EVERYTHING) -> Principal:
        name = f"p-{secrets.token_hex(4)}"
        made = root("POST", "/roles", {"name": name, "permissions": permissions.split()})
        assert made.status_code == 201, made.text
        created = root("POST", "/clients", {"name": name, "scope": scope, "roles": [name]})
        assert created.status_code == 201, created.text
        body = created.json()
        return Principal(served[0], body["client_id"], body["client_secret"])

    return make


def refused(response, *missing: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert set(missing) <= set(response.json()["missing_permissions"]), response.json()


def roles_of(root: Principal, client_id: str) -> list[str]:
    return root("GET", f"/clients/{client_id}").json()["roles"]


def test_apikeys_write_cannot_mint_a_key_for_an_admin_client(root, principal):
    clerk = principal("apikeys:write")
    # The reproduced chain: a key owned by the admin client, carrying roles:write ...
    refused(clerk("POST", "/api-keys", {"owner_client": root.client_id, "scopes": ["roles:write"]}),
            "roles:write")  # fmt: skip
    # ... even one whose scopes the clerk holds: whoever gets it acts as the admin.
    refused(clerk("POST", "/api-keys", {"owner_client": root.client_id,
                                        "scopes": ["apikeys:write"]}), "roles:write")  # fmt: skip
    # ... so the clerk cannot go on to make itself an admin.
    refused(clerk("PUT", f"/roles/admin/clients/{clerk.client_id}"), "roles:write")
    assert "admin" not in roles_of(root, clerk.client_id)
    keys = root("GET", "/api-keys", params={"limit": 100}).json()["items"]
    assert not [k for k in keys if k["owner"]["id"] == root.client_id]


def test_apikeys_write_cannot_mint_a_key_for_an_admin_user(root, principal):
    clerk = principal("apikeys:write")
    email = f"boss-{secrets.token_hex(3)}@example.com"
    boss = root("POST", "/users", {"email": email, "password": "a long passphrase of boss",
                                   "roles": ["admin"]})  # fmt: skip
    assert boss.status_code == 201, boss.text
    # A key of the admin user would also skip that user's second factor.
    refused(clerk("POST", "/api-keys", {"owner_user": email, "scopes": ["users:write"]}),
            "users:write")  # fmt: skip


def test_apikeys_write_cannot_rotate_or_revoke_a_wider_key(root, principal):
    clerk = principal("apikeys:write")
    key = root("POST", "/api-keys", {"owner_client": root.client_id, "scopes": ["keys:read"]})
    assert key.status_code == 201
    key_id = key.json()["id"]
    refused(clerk("POST", f"/api-keys/{key_id}/rotations", {"grace_seconds": 0}), "roles:write")
    refused(clerk("POST", f"/api-keys/{key_id}/revocation", {}), "roles:write")
    after = root("GET", f"/api-keys/{key_id}").json()
    assert after["revoked_at"] is None and after["expires_at"] == key.json()["expires_at"]


def test_apikeys_write_mints_within_what_it_holds(root, principal):
    clerk = principal("apikeys:write orders:read")
    peer = principal("orders:read")
    made = clerk("POST", "/api-keys", {"owner_client": peer.client_id, "scopes": ["orders:read"]})
    assert made.status_code == 201, made.text
    rotated = clerk("POST", f"/api-keys/{made.json()['id']}/rotations", {"grace_seconds": 0})
    assert rotated.status_code == 201
    refused(clerk("POST", "/api-keys", {"owner_client": peer.client_id,
                                        "scopes": ["orders:write"]}), "orders:write")  # fmt: skip


def test_clients_write_cannot_register_an_admin_client(root, principal):
    registrar = principal("clients:write clients:read")
    refused(registrar("POST", "/clients", {"name": "evil", "roles": ["admin"]}), "roles:write")
    # Even holding roles:write, a role is given only by someone holding all it carries.
    assigner = principal("clients:write roles:write")
    refused(assigner("POST", "/clients", {"name": "evil", "roles": ["key-manager"],
                                          "force_mfa_roles": True}), "keys:rotate")  # fmt: skip
    names = [c["name"] for c in root("GET", "/clients", params={"limit": 100}).json()["items"]]
    assert "evil" not in names
    plain = registrar("POST", "/clients", {"name": "plain", "scope": "orders:read"})
    assert plain.status_code == 201


def test_clients_write_cannot_take_over_a_wider_client(root, principal):
    registrar = principal("clients:write clients:read")
    target = root.client_id
    refused(registrar("POST", f"/clients/{target}/secret-rotations", {"grace_seconds": 0}),
            "roles:write")  # fmt: skip
    deprecated = registrar("POST", f"/clients/{target}/secret")
    refused(deprecated, "roles:write")
    assert deprecated.headers["Deprecation"].startswith("@")
    etag = registrar("GET", f"/clients/{target}").headers["ETag"]
    refused(registrar("PATCH", f"/clients/{target}", {"redirect_uris": ["https://evil.example/cb"]},
                      headers={"If-Match": etag}), "roles:write")  # fmt: skip
    refused(registrar("PATCH", f"/clients/{target}", {"is_active": False},
                      headers={"If-Match": etag}), "roles:write")  # fmt: skip
    assert root.token()  # the administrator's secret still works: nothing was rotated


def test_clients_write_cannot_make_a_client_skip_consent_for_scopes_it_lacks(principal):
    registrar = principal("clients:write")
    refused(registrar("POST", "/clients", {
        "name": "phisher", "grant_types": ["authorization_code"], "public": True,
        "redirect_uris": ["https://evil.example/cb"], "scope": "openid users:write",
        "skip_consent": True}), "users:write")  # fmt: skip
    asked = registrar("POST", "/clients", {
        "name": "honest", "grant_types": ["authorization_code"], "public": True,
        "redirect_uris": ["https://app.example/cb"], "scope": "openid users:write"})  # fmt: skip
    assert asked.status_code == 201, asked.text  # the consent page will ask the user


def test_users_write_cannot_make_or_take_over_an_admin(root, principal):
    clerk = principal("users:write users:read")
    email = f"evil-{secrets.token_hex(3)}@example.com"
    refused(clerk("POST", "/users", {"email": email, "password": "a long passphrase indeed",
                                     "roles": ["admin"]}), "roles:write")  # fmt: skip
    listed = clerk("GET", "/users", params={"limit": 100}).json()["items"]
    assert email not in {u["email"] for u in listed}
    boss_email = f"boss-{secrets.token_hex(3)}@example.com"
    boss = root("POST", "/users", {"email": boss_email, "password": "a long passphrase of boss",
                                   "roles": ["admin"]}).json()  # fmt: skip
    refused(clerk("POST", f"/users/{boss['id']}/mfa-reset"), "roles:write")
    etag = clerk("GET", f"/users/{boss['id']}").headers["ETag"]
    refused(clerk("PATCH", f"/users/{boss['id']}", {"is_active": False},
                  headers={"If-Match": etag}), "roles:write")  # fmt: skip
    assert root("GET", f"/users/{boss['id']}").json()["is_active"] is True
    plain = clerk("POST", "/users", {"email": f"p-{email}", "password": "a long passphrase ok"})
    assert plain.status_code == 201


def test_roles_write_cannot_widen_itself(root, principal):
    delegate = principal("roles:write roles:read orders:read")
    refused(delegate("PUT", f"/roles/admin/clients/{delegate.client_id}"), "keys:rotate")
    own_role = roles_of(root, delegate.client_id)[0]
    etag = delegate("GET", f"/roles/{own_role}").headers["ETag"]
    refused(delegate("PATCH", f"/roles/{own_role}", {"add_permissions": ["keys:rotate"]},
                     headers={"If-Match": etag}), "keys:rotate")  # fmt: skip
    refused(delegate("POST", "/roles", {"name": "wide", "permissions": ["users:write"]}),
            "users:write")  # fmt: skip
    etag = delegate("GET", "/roles/auditor").headers["ETag"]
    refused(delegate("PATCH", "/roles/auditor", {"requires_mfa": True},
                     headers={"If-Match": etag}), "audit:read")  # fmt: skip
    assert root("GET", f"/roles/{own_role}").json()["permissions"] == sorted(
        ["orders:read", "roles:read", "roles:write"]
    )


def test_roles_write_assigns_what_it_holds_to_those_it_outranks(root, principal):
    delegate = principal("roles:write roles:read orders:read")
    readers = delegate("POST", "/roles", {"name": f"r-{secrets.token_hex(3)}",
                                          "permissions": ["orders:read"]})  # fmt: skip
    assert readers.status_code == 201, readers.text
    name = readers.json()["name"]
    peer = principal("orders:read")
    assert delegate("PUT", f"/roles/{name}/clients/{peer.client_id}").status_code == 204
    # Acting on the administrator, even to give it less than it has, is refused.
    refused(delegate("PUT", f"/roles/{name}/clients/{root.client_id}"), "keys:rotate")
    refused(delegate("DELETE", f"/roles/admin/clients/{root.client_id}"), "keys:rotate")
    assert "admin" in roles_of(root, root.client_id)


def test_refusals_are_audited(root, principal):
    clerk = principal("apikeys:write")
    refused(clerk("POST", "/api-keys", {"owner_client": root.client_id, "scopes": ["audit:read"]}),
            "audit:read")  # fmt: skip
    events = root("GET", "/audit-events", params={"event": "rbac:escalation:refused",
                                                  "limit": 100}).json()["items"]  # fmt: skip
    mine = [e for e in events if e["actor"] == f"client:{clerk.client_id}"]
    assert mine and mine[-1]["outcome"] == "failure"
    assert "audit:read" in mine[-1]["data"]["missing"]
    assert mine[-1]["data"]["target"] == f"client {root.client_id}"


def test_roles_that_require_a_second_factor_bind_users_not_clients(root, principal):
    robot = principal("orders:read")
    unforced = root("PUT", f"/roles/key-manager/clients/{robot.client_id}")
    assert unforced.status_code == 422 and "second factor" in unforced.json()["detail"]
    forced = root("PUT", f"/roles/key-manager/clients/{robot.client_id}", params={"force": "true"})
    assert forced.status_code == 204
    assert "key-manager" in roles_of(root, robot.client_id)
