"""Dynamic client registration (RFC 7591) and management (RFC 7592): off by default; an initial
access token with clients:register; the usual registration rules; a registration access token to
read, replace and delete; then a token for the new client."""

from __future__ import annotations

import json

import pytest

from authserver.cli import cli
from tests.conftest import PASSWORD, init_app, make_app


def test_registration_is_off_by_default(http):
    assert http.post("/oauth/register", json={}).status_code == 404
    assert "registration_endpoint" not in http.get("/.well-known/openid-configuration").get_json()


@pytest.fixture
def open_app(tmp_path):
    app = make_app(tmp_path, dynamic_registration=True)
    init_app(app)
    with app.app_context():
        yield app


def _cli(app, *args, input=None):
    result = app.test_cli_runner().invoke(cli, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def initial_token(open_app):
    _cli(open_app, "users", "create", "root@example.com", "--role", "admin", "--password-stdin",
         input=PASSWORD + "\n")  # fmt: skip
    key = json.loads(_cli(open_app, "apikeys", "create", "--user", "root@example.com",
                          "--scope", "clients:register", "--json"))  # fmt: skip
    return key["key"]


def _register(http, token, metadata):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post("/oauth/register", json=metadata, headers=headers)


def test_register_then_get_a_token_then_manage_the_registration(open_app, initial_token):
    http = open_app.test_client()
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["registration_endpoint"] == "http://localhost:5000/oauth/register"
    created = _register(http, initial_token, {"client_name": "Robot",
                                              "grant_types": ["client_credentials"],
                                              "unknown_field": "ignored"})  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["client_name"] == "Robot" and body["client_secret_expires_at"] == 0
    token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(body["client_id"], body["client_secret"]))  # fmt: skip
    assert token.status_code == 200
    manage = {"Authorization": f"Bearer {body['registration_access_token']}"}
    uri = body["registration_client_uri"].removeprefix("http://localhost:5000")
    read = http.get(uri, headers=manage)
    assert read.status_code == 200 and "client_secret" not in read.get_json()
    assert http.get(uri, headers={"Authorization": "Bearer wrong"}).status_code == 401
    replaced = http.put(uri, headers=manage, json={
        "client_name": "Robot 2", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://robot.example/cb"], "client_id": body["client_id"]})  # fmt: skip
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json()["redirect_uris"] == ["https://robot.example/cb"]
    assert http.delete(uri, headers=manage).status_code == 204
    gone = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(body["client_id"], body["client_secret"]))  # fmt: skip
    assert gone.status_code == 401
    assert http.get(uri, headers=manage).status_code == 401


def test_registering_needs_the_clients_register_permission(open_app, initial_token):
    http = open_app.test_client()
    assert _register(http, None, {"client_name": "x"}).status_code == 401
    _cli(open_app, "users", "create", "ada@example.com", "--role", "auditor", "--password-stdin",
         input=PASSWORD + "\n")  # fmt: skip
    weak = json.loads(_cli(open_app, "apikeys", "create", "--user", "ada@example.com", "--scope",
                           "users:read", "--json"))["key"]  # fmt: skip
    refused = _register(http, weak, {"client_name": "x"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"},
         "invalid_client_metadata"),
        ({"grant_types": ["password"]}, "invalid_client_metadata"),
        ({"redirect_uris": "https://one.example"}, "invalid_client_metadata"),
        ({"jwks_uri": "https://keys.example/jwks"}, "invalid_client_metadata"),  # not with secrets
        ({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
          "jwks_uri": "http://keys.example/jwks"}, "invalid_client_metadata"),
    ],
)  # fmt: skip
def test_metadata_is_checked(open_app, initial_token, metadata, error):
    response = _register(open_app.test_client(), initial_token, {"client_name": "x", **metadata})
    assert response.status_code == 400 and response.get_json()["error"] == error


PRIVATE_KEY_JWT = {"token_endpoint_auth_method": "private_key_jwt",
                   "grant_types": ["client_credentials"]}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "uri", "rule"),
    [
        ("jwks_uri", "https://169.254.169.254/latest/meta-data/iam/", "address"),
        ("jwks_uri", "https://10.0.0.7/jwks", "address"),
        ("jwks_uri", "https://[fd00::1]/jwks", "address"),
        ("jwks_uri", "https://metadata.google.internal/jwks", "address"),
        ("jwks_uri", "ftp://keys.example/jwks", "scheme"),
        ("backchannel_logout_uri", "https://192.168.0.1/logout", "address"),
        ("backchannel_logout_uri", "https://user:pw@rp.example/logout", "credentials"),
    ],
)
def test_urls_the_server_would_fetch_are_checked_naming_the_rule(open_app, initial_token, field,
                                                                  uri, rule):  # fmt: skip
    metadata = {"client_name": "x", "grant_types": ["client_credentials"], field: uri}
    if field == "jwks_uri":
        metadata |= PRIVATE_KEY_JWT
    response = _register(open_app.test_client(), initial_token, metadata)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert (
        body["error"] == "invalid_client_metadata"
        and f"(rule: {rule})" in body["error_description"]
    )


def test_the_answer_echoes_every_registered_value(open_app, initial_token):
    """RFC 7591 §3.2.1: the registration response holds every metadata value registered."""
    metadata = {"client_name": "Keys at home", "jwks_uri": "https://keys.example/jwks.json",
                "backchannel_logout_uri": "https://rp.example/logout",
                "id_token_signed_response_alg": "ES256", **PRIVATE_KEY_JWT}  # fmt: skip
    created = _register(open_app.test_client(), initial_token, metadata)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    for name, value in metadata.items():
        if name != "client_name":
            assert body[name] == value, name
    assert body["client_name"] == "Keys at home"


def test_production_refuses_this_machine_over_http(tmp_path):
    app = make_app(tmp_path, dynamic_registration=True, env="production",
                   kek="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # fmt: skip
    init_app(app)
    with app.app_context():
        _cli(app, "users", "create", "root@example.com", "--role", "admin", "--password-stdin",
             input=PASSWORD + "\n")  # fmt: skip
        token = json.loads(_cli(app, "apikeys", "create", "--user", "root@example.com",
                                "--scope", "clients:register", "--json"))["key"]  # fmt: skip
        http = app.test_client()
        for uri in ("http://127.0.0.1:6379/", "https://127.0.0.1/jwks", "https://localhost/jwks"):
            refused = _register(http, token, {"client_name": "x", "jwks_uri": uri,
                                              **PRIVATE_KEY_JWT})  # fmt: skip
            assert refused.status_code == 400, uri
            assert refused.get_json()["error"] == "invalid_client_metadata"
