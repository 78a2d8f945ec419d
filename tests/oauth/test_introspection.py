"""Introspection (RFC 7662): default deny, client authentication, who may see which token."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from authserver.keys.service import create_signing_key
from authserver.models import KeyState, SigningKey
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from tests.oauth.test_code_flow import REDIRECT, Browser

# Every test through the lean door and through Authlib (tests/oauth/test_lean_door.py compares).
pytestmark = pytest.mark.usefixtures("both_doors")


def introspect(http, caller, token: str, **extra):
    return http.post("/oauth/introspect", data={"token": token, **extra}, headers=caller.basic())


def test_active_token_answers_its_claims(http, make_client, get_token):
    client = make_client("api:read")
    token = get_token(client)["access_token"]
    body = introspect(http, client, token).get_json()
    assert body["active"] is True
    assert body["scope"] == "api:read"
    assert body["client_id"] == client.client_id
    assert body["sub"] == client.client_id
    assert body["iss"] == "http://localhost:5000"
    assert body["token_type"] == "Bearer"
    assert {"exp", "iat", "jti", "aud"} <= body.keys()


def test_expired_token_is_inactive(http, make_client, get_token):
    client = make_client()
    clock.freeze()
    token = get_token(client)["access_token"]
    clock.advance(599)
    assert introspect(http, client, token).get_json()["active"] is True
    clock.advance(1)
    assert introspect(http, client, token).get_json() == {"active": False}


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "x" * 9000,
        "\u00e9t\u00e9.\u00e9t\u00e9.\u00e9t\u00e9",
    ],
)
def test_malformed_and_unknown_tokens_are_inactive(http, make_client, token):
    client = make_client()
    response = introspect(http, client, token)
    assert response.status_code == 200
    assert response.get_json() == {"active": False}


def test_a_token_with_a_forged_signature_is_inactive(http, make_client, get_token):
    client = make_client()
    token = get_token(client)["access_token"]
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert introspect(http, client, forged).get_json() == {"active": False}


def test_a_token_signed_by_a_revoked_key_is_inactive(http, make_client, get_token):
    client = make_client()
    token = get_token(client)["access_token"]
    key = db.session.scalar(
        select(SigningKey).where(SigningKey.alg == "ES256", SigningKey.state == KeyState.ACTIVE)
    )
    key.state = KeyState.REVOKED
    key.revoked_at = clock.now()
    db.session.flush()
    create_signing_key(current_runtime().envelope(), "ES256", KeyState.ACTIVE)
    db.session.commit()
    current_runtime().keyring.invalidate()
    assert introspect(http, client, token).get_json() == {"active": False}


def test_another_clients_token_is_inactive_to_a_plain_client(http, make_client, get_token):
    owner, other = make_client(), make_client()
    token = get_token(owner)["access_token"]
    assert introspect(http, other, token).get_json() == {"active": False}


def test_a_resource_server_may_introspect_any_token(http, make_client, get_token):
    owner = make_client()
    api = make_client("", "--role", "resource-server")
    token = get_token(owner)["access_token"]
    body = introspect(http, api, token).get_json()
    assert body["active"] is True and body["client_id"] == owner.client_id


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic bm9ib2R5Ondyb25n"}, {"Authorization": "Bearer abc"}],
)
def test_introspection_requires_client_authentication(http, make_client, get_token, headers):
    token = get_token(make_client())["access_token"]
    response = http.post("/oauth/introspect", data={"token": token}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize("form", [{}, {"token": ""}])
def test_missing_token_parameter_is_invalid_request(http, make_client, form):
    response = http.post("/oauth/introspect", data=form, headers=make_client().basic())
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("hint", ["banana", "refresh_token", "access_token"])
def test_token_type_hint_never_hides_a_token(http, make_client, get_token, hint):
    # RFC 7662 §2.1: an unknown or wrong hint only widens the search.
    client = make_client()
    token = get_token(client)["access_token"]
    response = introspect(http, client, token, token_type_hint=hint)
    assert response.status_code == 200
    assert response.get_json()["active"] is True


def test_a_resource_server_may_ask_for_a_signed_answer(http, make_client, get_token):
    # RFC 9701: the answer as a JWT, signed with the server's keys, for this resource server.
    from joserfc import jws, jwt
    from joserfc.jwk import KeySet

    client = make_client()
    token = get_token(client)["access_token"]
    response = http.post("/oauth/introspect", data={"token": token},
                         headers={**client.basic(),
                                  "Accept": "application/token-introspection+jwt"})  # fmt: skip
    assert response.status_code == 200
    assert response.mimetype == "application/token-introspection+jwt"
    signed = response.get_data(as_text=True)
    assert jws.extract_compact(signed.encode()).headers()["typ"] == "token-introspection+jwt"
    keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    claims = jwt.decode(signed, keys).claims
    assert claims["iss"] == "http://localhost:5000" and claims["aud"] == client.client_id
    assert claims["token_introspection"]["active"] is True
    assert claims["token_introspection"]["client_id"] == client.client_id
    plain = http.post("/oauth/introspect", data={"token": token}, headers=client.basic())
    assert plain.mimetype == "application/json"


def test_a_cached_not_revoked_answer_costs_no_query_and_a_revocation_ends_it(tmp_path):
    # AUTHSERVER_REVOCATION_CACHE_TTL set explicitly: one process (the cross-process case, with
    # Redis, is in tests/test_multi_instance.py).
    from sqlalchemy import event

    from authserver.cli import cli
    from authserver.platform.extensions import db
    from tests.conftest import init_app, make_app

    app = make_app(tmp_path, revocation_cache_ttl_seconds=30)
    init_app(app)
    with app.app_context():
        created = app.test_cli_runner().invoke(cli, ["clients", "create", "--name", "rs",
                                                     "--json"])  # fmt: skip
        client = json.loads(created.stdout)
        http = app.test_client()
        auth = (client["client_id"], client["client_secret"])
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=auth).get_json()["access_token"]  # fmt: skip
        assert http.post("/oauth/introspect", data={"token": token}, auth=auth).get_json()["active"]
        cache = app.extensions["authserver"].revocations
        if cache._redis is not None:
            # With Redis (the PostgreSQL pass) nothing is remembered until the process listens
            # for revocation news: the first answer starts the listener.
            assert cache.subscribed.wait(10)
            assert http.post("/oauth/introspect", data={"token": token}, auth=auth).get_json()
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            again = http.post("/oauth/introspect", data={"token": token}, auth=auth)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert again.get_json()["active"] is True and statements == []
        assert http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
        after = http.post("/oauth/introspect", data={"token": token}, auth=auth).get_json()
        assert after == {"active": False}


def test_a_token_of_a_disabled_client_is_inactive(http, runner, make_client, get_token):
    client = make_client("api:read")
    api = make_client("", "--role", "resource-server")
    token = get_token(client)["access_token"]
    assert introspect(http, api, token).get_json()["active"] is True
    assert runner("clients", "disable", client.client_id).exit_code == 0
    # RFC 7662 §2.2: the client is gone, so is what it holds, at once and not at exp.
    assert introspect(http, api, token).get_json() == {"active": False}
    api_call = http.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert api_call.status_code == 401


def test_a_token_of_a_disabled_user_is_inactive(http, runner, rp, user, make_client):
    browser = Browser(http, rp)
    callback = browser.code()
    tokens = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier},
        auth=(rp["client_id"], rp["client_secret"])).get_json()  # fmt: skip
    api = make_client("", "--role", "resource-server")
    access = tokens["access_token"]
    assert introspect(http, api, access).get_json()["active"] is True
    assert (
        http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code
        == 200
    )
    assert runner("users", "disable", user).exit_code == 0
    assert introspect(http, api, access).get_json() == {"active": False}
    assert (
        http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code
        == 401
    )
