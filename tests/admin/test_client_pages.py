"""/admin/clients: every setting of ``authserver clients create`` in the UI, changed after
registration, roles given and taken, disable and enable, search and state filter; and the same
filters and new settings on /api/v1/clients. Everything through the services the CLI and the
API use: a refusal is theirs, shown on the page (400, or 403 for escalation), nothing written."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select

from authserver.models import AuditEvent, Client
from authserver.platform.extensions import db
from authserver.platform.vocabulary import DEVICE_CODE_GRANT
from tests.admin.conftest import form_of, make_person, sign_in_with_code
from tests.api.conftest import admin, caller  # noqa: F401 - fixtures of the API tests

LIST = "/admin/clients"


def patch(api, path: str, body: dict):
    return api("PATCH", path, body, headers={"If-Match": "*"})


def public_jwks() -> dict:
    return {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}


def register(http, **fields):
    """POST the registration form; list values are ticked boxes."""
    data = {"csrf_token": form_of(http, LIST), "name": "Shop", "auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"]} | fields  # fmt: skip
    return http.post(LIST, data=data)


def client_named(name: str) -> Client:
    db.session.expire_all()
    return db.session.scalar(select(Client).where(Client.name == name))


def edit_form_of(client: Client, **changes) -> dict:
    """The edit form as the page fills it in, with ``changes``."""
    data = {
        "name": client.name, "grant_types": list(client.grant_types),
        "auth_method": client.token_endpoint_auth_method,
        "redirect_uris": "\n".join(client.redirect_uris), "scope": client.scope.split(),
        "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris),
        "id_token_alg": client.id_token_signed_response_alg,
        "backchannel_logout_uri": client.backchannel_logout_uri or "",
        "resources": "\n".join(client.resources), "jwks_uri": client.jwks_uri or "",
        "jwks": json.dumps(client.jwks) if client.jwks else "",
    }  # fmt: skip
    for flag, on in (("skip_consent", client.skip_consent),
                     ("require_par", client.require_pushed_authorization_requests),
                     ("require_dpop", client.dpop_bound_access_tokens)):  # fmt: skip
        if on:
            data[flag] = "y"
    data |= changes
    return {k: v for k, v in data.items() if v is not None}


def post_edit(http, client: Client, **changes):
    path = f"{LIST}/{client.client_id}"
    return http.post(
        path, data={"csrf_token": form_of(http, path), **edit_form_of(client, **changes)}
    )


def test_the_form_offers_checkboxes_for_grant_types_scopes_and_roles(as_admin, runner):
    assert runner("roles", "create", "reporting", "--scope", "reports:read").exit_code == 0
    page = as_admin.get(LIST).get_data(as_text=True)
    for value in ("client_credentials", DEVICE_CODE_GRANT):
        assert f'type="checkbox" name="grant_types" value="{value}"' in page
    for scope in ("openid", "offline_access", "clients:write", "reports:read"):
        assert f'name="scope" value="{scope}"' in page
    assert 'name="roles" value="reporting"' in page
    for alg in ("ES256", "RS256", "Ed25519"):
        assert f'value="{alg}">{alg}</option>' in page
    for field in ("other_scopes", "jwks_uri", "jwks", "post_logout_redirect_uris", "id_token_alg",
                  "backchannel_logout_uri", "resources", "token_quota"):  # fmt: skip
        assert f'<label for="{field}"' in page, field


def holding(runner, email: str, role: str, scope: str) -> None:
    """A role carrying ``scope``, given to the person ``email`` (no one gives what they lack)."""
    assert runner("roles", "create", role, "--scope", scope).exit_code == 0
    assert runner("roles", "grant", role, "--user", email).exit_code == 0


def test_a_client_is_registered_with_every_setting(as_admin, admin_user, runner):
    holding(runner, admin_user.email, "reporting", "reports:read invoices:read")
    created = register(
        as_admin, name="Portal", auth_method="private_key_jwt",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris="https://portal.example/cb\nhttps://portal.example/cb2",
        scope=["openid", "profile", "reports:read"], other_scopes="invoices:read",
        roles=["reporting"], jwks=json.dumps(public_jwks()),
        post_logout_redirect_uris="https://portal.example/bye", id_token_alg="ES256",
        skip_consent="y", require_par="y", require_dpop="y",
        backchannel_logout_uri="https://portal.example/logout",
        resources="https://api.example/\nhttps://reports.example/",
        token_quota="600/minute", introspection_quota="10/second burst 50",
    )  # fmt: skip
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    client = client_named("Portal")
    assert created.headers["Location"] == f"/admin/clients/{client.client_id}"
    assert client.token_endpoint_auth_method == "private_key_jwt" and not client.is_public
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.redirect_uris == ["https://portal.example/cb", "https://portal.example/cb2"]
    assert client.scope.split() == ["openid", "profile", "reports:read", "invoices:read"]
    assert [r.name for r in client.roles] == ["reporting"]
    assert client.jwks["keys"][0]["kty"] == "EC" and "d" not in client.jwks["keys"][0]
    assert client.post_logout_redirect_uris == ["https://portal.example/bye"]
    assert client.id_token_signed_response_alg == "ES256"
    assert client.skip_consent and client.require_pushed_authorization_requests
    assert client.dpop_bound_access_tokens
    assert client.backchannel_logout_uri == "https://portal.example/logout"
    assert client.resources == ["https://api.example/", "https://reports.example/"]
    assert client.token_quota == "600/minute"
    assert client.introspection_quota == "10/second burst 50"
    assert client.secrets == []  # private_key_jwt: no secret to show
    page = as_admin.get(created.headers["Location"]).get_data(as_text=True)
    assert 'value="reports:read" checked' in page and 'value="invoices:read"' in page
    assert '<option selected value="ES256">' in page and "https://reports.example/" in page


def test_a_public_client_and_a_jwks_uri(as_admin):
    public = register(as_admin, name="SPA", public="y", auth_method="none",
                      grant_types=["authorization_code"], redirect_uris="https://spa.example/cb",
                      scope=["openid"])  # fmt: skip
    assert public.status_code == 303
    spa = client_named("SPA")
    assert spa.is_public and spa.token_endpoint_auth_method == "none" and spa.secrets == []
    keyed = register(as_admin, name="Signer", auth_method="private_key_jwt",
                     jwks_uri="https://signer.example/jwks.json")  # fmt: skip
    assert keyed.status_code == 303
    assert client_named("Signer").jwks_uri == "https://signer.example/jwks.json"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grant_types": ["password"]}, "is not one of"),
        ({"grant_types": []}, "grant_types: at least one"),
        ({"backchannel_logout_uri": "https://10.0.0.1/logout"}, "backchannel_logout_uri"),
        ({"resources": "not a uri"}, "resource:"),
        ({"id_token_alg": "HS256"}, "id_token_alg: one of ES256, RS256, Ed25519"),
        ({"public": "y"}, "a public client cannot use client_credentials"),
        (
            {
                "public": "y",
                "grant_types": ["authorization_code"],
                "redirect_uris": "https://a.example/cb",
            },
            "a public client authenticates with",
        ),
        ({"auth_method": "private_key_jwt", "jwks": "{not json"}, "jwks: the JWK Set is"),
        ({"auth_method": "private_key_jwt"}, "private_key_jwt needs the client"),
        ({"jwks_uri": "https://signer.example/jwks.json"}, "only used with private_key_jwt"),
        ({"roles": ["no-such-role"]}, "unknown role"),
        ({"token_quota": "fast"}, "token_quota"),
        ({"name": ""}, "Name: This field is required."),
    ],
)
def test_a_bad_registration_is_refused_with_its_message_and_writes_nothing(as_admin, fields,
                                                                           message):  # fmt: skip
    refused = register(as_admin, **fields)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400, text[:500]
    assert 'role="alert"' in text and message in text.replace("&#39;", "'")
    assert db.session.scalar(select(Client)) is None
    assert 'value="Shop"' in text or not fields.get("name", "Shop")  # what was typed stays


def test_every_setting_that_may_change_is_edited(as_admin, admin_user, runner):
    holding(runner, admin_user.email, "ordering", "orders:read")
    assert register(as_admin, name="Shop").status_code == 200  # the secret, shown once
    client = client_named("Shop")
    saved = post_edit(
        as_admin, client, name="Shop 2", grant_types=["authorization_code", "refresh_token"],
        redirect_uris="https://shop.example/cb", scope=["openid", "email"],
        other_scopes="orders:read", auth_method="client_secret_post",
        post_logout_redirect_uris="https://shop.example/bye", id_token_alg="Ed25519",
        skip_consent="y", require_par="y", require_dpop="y",
        backchannel_logout_uri="https://shop.example/logout",
        resources="https://orders.example/", token_quota="100/minute",
    )  # fmt: skip
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    client = client_named("Shop 2")
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.scope.split() == ["openid", "email", "orders:read"]
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.post_logout_redirect_uris == ["https://shop.example/bye"]
    assert client.id_token_signed_response_alg == "Ed25519"
    assert client.skip_consent and client.require_pushed_authorization_requests
    assert client.dpop_bound_access_tokens and client.token_quota == "100/minute"
    assert client.backchannel_logout_uri == "https://shop.example/logout"
    assert client.resources == ["https://orders.example/"]
    # Unticked and emptied: off and removed.
    cleared = post_edit(as_admin, client, skip_consent=None, require_par=None, require_dpop=None,
                        backchannel_logout_uri="", resources="", token_quota="")  # fmt: skip
    assert cleared.status_code == 303
    client = client_named("Shop 2")
    assert not (client.skip_consent or client.require_pushed_authorization_requests
                or client.dpop_bound_access_tokens)  # fmt: skip
    assert client.backchannel_logout_uri is None and client.resources == []
    assert client.token_quota is None
    # The keys: a secret client moves to private_key_jwt by giving its keys in the same change.
    moved = post_edit(as_admin, client, auth_method="private_key_jwt",
                      jwks_uri="https://shop.example/jwks.json")  # fmt: skip
    assert moved.status_code == 303, moved.get_data(as_text=True)[:2000]
    client = client_named("Shop 2")
    assert client.token_endpoint_auth_method == "private_key_jwt"
    assert client.jwks_uri == "https://shop.example/jwks.json" and client.jwks is None
    pasted = post_edit(as_admin, client, jwks_uri="", jwks=json.dumps(public_jwks()))
    assert pasted.status_code == 303
    client = client_named("Shop 2")
    assert client.jwks_uri is None and client.jwks["keys"][0]["kty"] == "EC"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backchannel_logout_uri": "https://10.0.0.1/logout"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "http://shop.example/logout"}, "must use https"),
        ({"grant_types": ["authorization_code", "password"]}, "is not one of"),
        ({"resources": "https://ok.example/\nrelative/path"}, "resource:"),
        ({"id_token_alg": "none"}, "id_token_alg: one of"),
        ({"auth_method": "private_key_jwt"}, "cannot change from client_secret_basic"),
        (
            {"auth_method": "private_key_jwt", "jwks_uri": "https://169.254.169.254/keys"},
            "jwks_uri",
        ),
        ({"jwks_uri": "https://shop.example/jwks.json"}, "only used with private_key_jwt"),
        ({"grant_types": ["authorization_code"], "redirect_uris": ""}, "redirect_uri"),
    ],
)
def test_a_bad_change_is_refused_with_its_message_and_changes_nothing(as_admin, changes,
                                                                      message):  # fmt: skip
    register(as_admin, name="Shop")
    client = client_named("Shop")
    before = {c.name: getattr(client, c.name) for c in Client.__table__.columns}
    refused = post_edit(as_admin, client, name="Renamed", require_par="y", **changes)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400, text[:500]
    assert 'role="alert"' in text and message in text.replace("&#39;", "'")
    assert 'value="Renamed"' in text  # the form keeps what was typed
    db.session.expire_all()
    after = db.session.get(Client, client.id)
    assert {c.name: getattr(after, c.name) for c in Client.__table__.columns} == before


def test_roles_are_given_and_taken_on_the_client_page(as_admin, runner):
    assert runner("roles", "create", "reporting", "--scope", "audit:read").exit_code == 0
    register(as_admin, name="Shop")
    client = client_named("Shop")
    path = f"{LIST}/{client.client_id}"
    page = as_admin.get(path).get_data(as_text=True)
    assert '<label for="role">Role</label>' in page and '<option value="reporting">' in page
    given = as_admin.post(path + "/roles", data={"csrf_token": form_of(as_admin, path),
                                                 "role": "reporting"})  # fmt: skip
    assert given.status_code == 303
    assert [r.name for r in client_named("Shop").roles] == ["reporting"]
    page = as_admin.get(path).get_data(as_text=True)
    assert "Role reporting given to Shop." in page and 'aria-label="Take role reporting"' in page
    assert '<option value="reporting">' not in page  # only roles it lacks are offered
    # A role that requires a second factor binds users; a client gets it only when forced.
    refused = as_admin.post(path + "/roles", data={"csrf_token": form_of(as_admin, path),
                                                   "role": "admin"})  # fmt: skip
    assert refused.status_code == 303
    assert "require(s) a second factor" in as_admin.get(path).get_data(as_text=True)
    assert [r.name for r in client_named("Shop").roles] == ["reporting"]
    unknown = as_admin.post(path + "/roles", data={"csrf_token": form_of(as_admin, path),
                                                   "role": "nope"})  # fmt: skip
    assert unknown.status_code == 303 and "no role nope" in as_admin.get(path).get_data(
        as_text=True
    )
    taken = as_admin.post(path + "/roles/reporting/revoke",
                          data={"csrf_token": form_of(as_admin, path)})  # fmt: skip
    assert taken.status_code == 303 and client_named("Shop").roles == []
    assert "Role reporting taken from Shop." in as_admin.get(path).get_data(as_text=True)
    no_token = as_admin.post(path + "/roles", data={"role": "reporting"})
    assert no_token.status_code == 303 and client_named("Shop").roles == []


def test_a_delegated_admin_cannot_give_a_client_more_than_they_hold(app, http, runner):
    assert runner("roles", "create", "client-clerks", "--scope",
                  "clients:read clients:write roles:read roles:write").exit_code == 0  # fmt: skip
    assert runner("roles", "create", "key-masters", "--scope", "keys:write").exit_code == 0
    assert runner("roles", "create", "listers", "--scope", "clients:read").exit_code == 0
    clerk = make_person(app, runner, "clerk@example.com", "client-clerks")
    sign_in_with_code(http, clerk)
    created = register(http, name="Escalator", roles=["key-masters"])
    assert created.status_code == 403
    assert "needs permissions you do not hold" in created.get_data(as_text=True)
    assert client_named("Escalator") is None
    assert register(http, name="Plain").status_code == 200
    client = client_named("Plain")
    path = f"{LIST}/{client.client_id}"
    given = http.post(path + "/roles", data={"csrf_token": form_of(http, path),
                                             "role": "key-masters"})  # fmt: skip
    assert given.status_code == 303
    assert "needs permissions you do not hold" in http.get(path).get_data(as_text=True)
    assert client_named("Plain").roles == []
    # A role within what the clerk holds is theirs to give.
    ok = http.post(path + "/roles", data={"csrf_token": form_of(http, path), "role": "listers"})
    assert ok.status_code == 303 and [r.name for r in client_named("Plain").roles] == ["listers"]
    refusals = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "rbac:escalation:refused")
    ).all()
    assert len(refusals) == 2 and {r.actor for r in refusals} == {clerk.actor}


def test_giving_and_taking_roles_needs_roles_write(app, http, runner):
    assert runner("roles", "create", "client-editors", "--scope",
                  "clients:read clients:write").exit_code == 0  # fmt: skip
    assert runner("roles", "create", "reporting", "--scope", "reports:read").exit_code == 0
    editor = make_person(app, runner, "editor@example.com", "client-editors")
    sign_in_with_code(http, editor)
    register(http, name="Shop")
    client = client_named("Shop")
    path = f"{LIST}/{client.client_id}"
    assert 'action="/admin/clients/' + client.client_id + '/roles"' not in http.get(path).get_data(
        as_text=True
    )
    given = http.post(
        path + "/roles", data={"csrf_token": form_of(http, path), "role": "reporting"}
    )
    assert given.status_code == 403 and "roles:write" in given.get_data(as_text=True)
    assert client_named("Shop").roles == []


def test_a_disabled_client_is_enabled_again_and_editable(as_admin):
    register(as_admin, name="Shop")
    client = client_named("Shop")
    path = f"{LIST}/{client.client_id}"
    token = form_of(as_admin, path + "/disable")
    disabled = as_admin.post(path + "/disable", data={"csrf_token": token})
    assert disabled.headers["Location"] == path
    page = as_admin.get(path).get_data(as_text=True)
    assert "<fieldset disabled>" in page and ">Save</button>" not in page
    assert ">Enable client</button>" in page
    assert not client_named("Shop").is_active
    stale = as_admin.post(path + "/enable", data={})
    assert stale.status_code == 400 and not client_named("Shop").is_active
    enabled = as_admin.post(path + "/enable", data={"csrf_token": form_of(as_admin, path)})
    assert enabled.status_code == 303 and client_named("Shop").is_active
    page = as_admin.get(path).get_data(as_text=True)
    assert "Client Shop enabled." in page and ">Save</button>" in page
    assert "<fieldset disabled>" not in page and ">Enable client</button>" not in page
    events = db.session.scalars(
        select(AuditEvent.event).where(AuditEvent.event.like("client:%")).order_by(AuditEvent.id)
    ).all()
    assert [e.rsplit(":", 1)[1] for e in events[-2:]] == ["disabled", "updated"]


def test_an_auditor_sees_the_clients_but_cannot_enable_or_edit(app, http, runner, as_admin):
    register(as_admin, name="Shop")
    client = client_named("Shop")
    path = f"{LIST}/{client.client_id}"
    as_admin.post(path + "/disable", data={"csrf_token": form_of(as_admin, path + "/disable")})
    assert runner("roles", "create", "client-readers", "--scope", "clients:read").exit_code == 0
    reader = make_person(app, runner, "reader@example.com", "client-readers")
    other = app.test_client()
    sign_in_with_code(other, reader)
    page = other.get(path).get_data(as_text=True)
    assert ">Enable client</button>" not in page and "Register a client" not in other.get(
        LIST
    ).get_data(as_text=True)
    refused = other.post(path + "/enable", data={"csrf_token": form_of(other, path)})
    assert refused.status_code == 403 and not client_named("Shop").is_active


def test_clients_are_found_by_name_or_client_id_and_state(as_admin):
    for name in ("Alpha Shop", "beta_api", "Gamma 100%"):
        register(as_admin, name=name)
    beta = client_named("beta_api")
    path = f"{LIST}/{beta.client_id}"
    as_admin.post(path + "/disable", data={"csrf_token": form_of(as_admin, path + "/disable")})

    def shown(query: str) -> list[str]:
        page = as_admin.get(LIST + query)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        return [n for n in ("Alpha Shop", "beta_api", "Gamma 100%") if f">{n}</a>" in text]

    assert shown("") == ["Alpha Shop", "beta_api", "Gamma 100%"]
    assert shown("?q=SHOP") == ["Alpha Shop"]
    assert shown("?q=_") == ["beta_api"]  # "_" and "%" are taken literally
    assert shown("?q=%25") == ["Gamma 100%"]
    assert shown(f"?q={beta.client_id[2:14]}") == ["beta_api"]
    assert shown(f"?q={beta.client_id[2:14].swapcase()}") == ["beta_api"]
    assert shown("?state=active") == ["Alpha Shop", "Gamma 100%"]
    assert shown("?state=disabled") == ["beta_api"]
    assert shown("?q=a&state=disabled") == ["beta_api"]
    assert shown("?q=nothing-like-this") == []
    assert "No clients match" in as_admin.get(LIST + "?q=nothing-like-this").get_data(as_text=True)
    page = as_admin.get(LIST + "?q=shop&state=active").get_data(as_text=True)
    assert 'value="shop"' in page and '<option value="active" selected>' in page
    assert as_admin.get(LIST + "?state=sleeping").status_code == 400
    assert as_admin.get(LIST + "?q=%00").status_code == 400  # web/storable.py, not a 500


def test_the_api_lists_clients_by_q_and_active(admin):  # noqa: F811
    made = {name: admin("POST", "/clients", {"name": name}).get_json()["client_id"]
            for name in ("Alpha Shop", "beta_api", "Gamma")}  # fmt: skip
    patched = patch(admin, f"/clients/{made['beta_api']}", {"is_active": False})
    assert patched.status_code == 200

    def names(query: str) -> list[str]:
        response = admin("GET", "/clients" + query)
        assert response.status_code == 200, response.get_json()
        return sorted(c["name"] for c in response.get_json()["items"] if c["client_id"] in
                      made.values())  # fmt: skip

    assert names("?q=shop") == ["Alpha Shop"]
    assert names("?q=_") == ["beta_api"]
    assert names(f"?q={made['Gamma']}") == ["Gamma"]
    assert names("?active=false") == ["beta_api"]
    assert names("?active=true") == ["Alpha Shop", "Gamma"]
    assert names("?q=GAMMA&active=true&limit=1") == ["Gamma"]
    assert admin("GET", "/clients?active=maybe").status_code == 422  # as other bad queries
    assert admin("GET", "/clients?q=a%00b").status_code in (200, 400)  # never a 5xx
    openapi = admin("GET", "/openapi.json").get_json()
    params = {p["name"] for p in openapi["paths"]["/clients"]["get"]["parameters"]}
    assert {"q", "active", "limit", "cursor"} <= params


def test_the_api_patches_the_new_settings(admin):  # noqa: F811
    client = admin("POST", "/clients", {"name": "Shop"}).get_json()
    path = f"/clients/{client['client_id']}"
    assert client["require_pushed_authorization_requests"] is False and client["resources"] == []
    changed = patch(admin, path, {
        "require_pushed_authorization_requests": True, "dpop_bound_access_tokens": True,
        "backchannel_logout_uri": "https://shop.example/logout",
        "resources": ["https://orders.example/"], "id_token_signed_response_alg": "ES256",
    })  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["require_pushed_authorization_requests"] and body["dpop_bound_access_tokens"]
    assert body["backchannel_logout_uri"] == "https://shop.example/logout"
    assert body["resources"] == ["https://orders.example/"]
    assert body["id_token_signed_response_alg"] == "ES256"
    # The same rules as registration and the UI, from the same service.
    private = patch(admin, path, {"backchannel_logout_uri": "https://10.0.0.1/logout"})
    assert private.status_code == 422
    assert private.get_json()["errors"][0]["field"] == "backchannel_logout_uri"
    assert patch(admin, path, {"id_token_signed_response_alg": "HS256"}).status_code == 422
    removed = patch(admin, path, {"backchannel_logout_uri": None, "resources": []})
    assert removed.status_code == 200
    assert removed.get_json()["backchannel_logout_uri"] is None
    assert removed.get_json()["resources"] == []
    keyed = patch(admin, path, {"jwks_uri": "https://shop.example/jwks.json"})
    assert keyed.status_code == 422  # a secret client has no use for keys
    signer = admin(
        "POST",
        "/clients",
        {"name": "Signer", "jwks": public_jwks(), "token_endpoint_auth_method": "private_key_jwt"},
    )
    signer = signer.get_json()
    moved = patch(admin, f"/clients/{signer['client_id']}",
                  {"jwks_uri": "https://signer.example/jwks.json"})  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["jwks_uri"] == "https://signer.example/jwks.json"
    assert moved.get_json()["jwks"] is None
    created = admin("POST", "/clients", {
        "name": "Full", "require_pushed_authorization_requests": True,
        "dpop_bound_access_tokens": True, "resources": ["https://api.example/"],
        "backchannel_logout_uri": "https://full.example/logout",
    })  # fmt: skip
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["resources"] == ["https://api.example/"]
