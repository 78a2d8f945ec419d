"""The token endpoint: client_credentials, JWT access tokens (RFC 9068), client authentication."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwk, jwt
from sqlalchemy import select

from authserver.keys.service import create_signing_key
from authserver.models import ClientSecret, KeyState, SigningKey
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime

# Every test through the lean door and through Authlib (tests/oauth/test_lean_door.py compares).
pytestmark = pytest.mark.usefixtures("both_doors")


def _header(token: str) -> dict:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _active_key(alg="ES256") -> SigningKey:
    return db.session.scalar(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.state == KeyState.ACTIVE)
    )


def test_client_credentials_issues_an_rfc9068_jwt(make_client, get_token):
    client = make_client("api:read api:write")
    clock.freeze()
    body = get_token(client, scope="api:read")

    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "api:read"
    header = _header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    active = _active_key()
    assert header["kid"] == active.kid

    key = jwk.import_key(active.public_jwk)
    claims = jwt.decode(body["access_token"], key, algorithms=["ES256"]).claims
    now = clock.timestamp()
    assert claims["iss"] == "http://localhost:5000"
    assert claims["aud"] == "http://localhost:5000"
    assert claims["sub"] == client.client_id
    assert claims["client_id"] == client.client_id
    assert claims["scope"] == "api:read"
    assert claims["iat"] == now
    assert claims["exp"] == now + 600
    assert len(claims["jti"]) >= 16


def test_every_token_is_signed_by_the_active_key_even_with_other_keys_published(
    app, make_client, get_token
):
    # Pending and retired keys of the same algorithm are in the set: none of them may sign.
    envelope = current_runtime().envelope()
    pending = create_signing_key(envelope, "ES256", KeyState.PENDING)
    retired = create_signing_key(envelope, "ES256", KeyState.RETIRED)
    db.session.commit()
    current_runtime().keyring.invalidate()
    client = make_client()
    active_kid = _active_key().kid
    kids = {_header(get_token(client)["access_token"])["kid"] for _ in range(25)}
    assert kids == {active_kid}
    assert pending.kid != active_kid and retired.kid != active_kid


@pytest.mark.parametrize("alg", ["ES256", "RS256", "Ed25519"])
def test_access_token_algorithm_is_configurable(tmp_path, alg):
    from tests.conftest import init_app, make_app

    app = make_app(tmp_path, access_token_alg=alg)
    init_app(app)
    runner = app.test_cli_runner()
    from authserver.cli import cli

    created = json.loads(runner.invoke(cli, ["clients", "create", "--name", "x", "--json"]).output)
    http = app.test_client()
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    with app.app_context():
        key = _active_key(alg)
        assert _header(token) == {"typ": "at+jwt", "alg": alg, "kid": key.kid}
        jwt.decode(token, jwk.import_key(key.public_jwk), algorithms=[alg])


def test_client_secret_post_works_for_a_client_registered_for_it(http, make_client):
    client = make_client("api:read", "--auth-method", "client_secret_post")
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    assert response.status_code == 200
    # ...and the registered method is the only one it may use.
    assert (
        http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=client.basic()
        ).status_code
        == 401
    )


def test_omitted_scope_grants_the_registered_scopes(make_client, get_token):
    client = make_client("api:read api:write")
    assert get_token(client)["scope"] == "api:read api:write"


@pytest.mark.parametrize("scope", ["api:admin", "api:read api:admin", 'bad"scope'])
def test_scope_beyond_registration_is_invalid_scope(http, make_client, scope):
    client = make_client("api:read")
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=client.basic(),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_wrong_secret_and_unknown_client_are_indistinguishable(http, make_client):
    client = make_client()
    wrong = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "not-the-secret"),
    )
    unknown = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("no-such-client", "not-the-secret"),
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]
    assert wrong.headers["WWW-Authenticate"].startswith("Basic ")


def test_public_clients_cannot_use_client_credentials(runner):
    result = runner(
        "clients", "create", "--name", "spa", "--public", "--grant-type", "client_credentials"
    )
    assert result.exit_code == 1
    assert "public client cannot use client_credentials" in result.output


def test_client_secret_is_stored_only_as_a_keyed_hash(app, make_client):
    client = make_client()
    stored = db.session.scalars(select(ClientSecret.secret_hash)).all()
    assert client.client_secret not in stored
    # Every value of every table, on whichever database this pass runs.
    dump = "\n".join(
        repr(row)
        for table in db.metadata.sorted_tables
        for row in db.session.execute(table.select())
    )
    assert client.client_id in dump and client.client_secret not in dump


def test_no_database_write_when_issuing_a_token(app, make_client, get_token):
    client = make_client()
    statements = []
    from sqlalchemy import event

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        get_token(client)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    writes = [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert statements and writes == []


def _private_key_jwt_client(make_client, tmp_path):
    key = jwk.ECKey.generate_key("P-256")
    path = tmp_path / "client-jwks.json"
    public = key.as_dict(private=False) | {"kid": key.thumbprint()}
    path.write_text(json.dumps({"keys": [public]}))
    client = make_client("api:read", "--auth-method", "private_key_jwt", "--jwks", str(path))
    assert client.client_secret is None
    return client, key


def _assertion(client_id: str, key, jti: str, aud="http://localhost:5000/oauth/token") -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "iat": now}
    claims["jti"] = jti
    return jwt.encode({"alg": "ES256", "kid": key.thumbprint()}, claims, key)


def test_private_key_jwt_authenticates_and_refuses_a_replayed_assertion(
    http, make_client, tmp_path
):
    client, key = _private_key_jwt_client(make_client, tmp_path)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(client.client_id, key, "assertion-1"),
    }
    first = http.post("/oauth/token", data=form)
    assert first.status_code == 200, first.get_json()
    replay = http.post("/oauth/token", data=form)
    assert replay.status_code == 401
    assert replay.get_json()["error"] == "invalid_client"


def test_private_key_jwt_with_another_key_is_refused(http, make_client, tmp_path):
    client, _ = _private_key_jwt_client(make_client, tmp_path)
    stranger = jwk.ECKey.generate_key("P-256")
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(client.client_id, stranger, "assertion-2"),
        },
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_private_key_jwt_with_a_wrong_audience_is_refused(http, make_client, tmp_path):
    client, key = _private_key_jwt_client(make_client, tmp_path)
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(
                client.client_id, key, "assertion-3", aud="https://elsewhere.example"
            ),
        },
    )
    assert response.status_code == 401


def test_a_disabled_client_stops_authenticating_within_the_cache_interval(
    app, http, make_client, runner
):
    from authserver.clients.cache import ClientCache

    ticks = [0.0]
    cache = ClientCache(1.0, monotonic=lambda: ticks[0])
    current_runtime().clients = cache
    app.extensions["authserver.oauth"]._query_client = cache.get
    client = make_client()
    form = {"grant_type": "client_credentials"}
    assert http.post("/oauth/token", data=form, headers=client.basic()).status_code == 200
    assert runner("clients", "disable", client.client_id).exit_code == 0
    ticks[0] = 0.5  # another process disabled it; this worker's snapshot is still fresh
    assert http.post("/oauth/token", data=form, headers=client.basic()).status_code == 200
    ticks[0] = 1.0
    response = http.post("/oauth/token", data=form, headers=client.basic())
    assert response.status_code == 401


def test_a_snapshot_read_across_an_invalidation_is_not_kept(app, make_client, monkeypatch):
    # Another process disables the client between this process's read and its store, and the
    # news (invalidate) arrives in that moment: the snapshot may predate the change.
    from sqlalchemy import update

    from authserver.clients import cache as cache_module
    from authserver.clients.cache import ClientCache
    from authserver.models import Client

    cache = ClientCache(60.0)
    client = make_client()
    original = cache_module.ClientView.of

    def read_then_disabled_elsewhere(model):
        view = original(model)
        db.session.execute(update(Client).where(Client.client_id == client.client_id)
                           .values(is_active=False))  # fmt: skip
        db.session.commit()
        cache.invalidate()
        return view

    monkeypatch.setattr(cache_module.ClientView, "of", read_then_disabled_elsewhere)
    assert cache.get(client.client_id) is not None  # the racing request's own snapshot
    monkeypatch.setattr(cache_module.ClientView, "of", original)
    assert cache.get(client.client_id) is None  # read again, not the snapshot of before


def test_private_key_jwt_with_keys_at_a_jwks_uri(http, make_client):
    # RFC 7591 §2 jwks_uri: the keys are fetched from the client's own (loopback) server.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key = jwk.ECKey.generate_key("P-256")
    document = json.dumps({"keys": [key.as_dict(private=False) | {"kid": key.thumbprint()}]})

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_port}/jwks.json"
        client = make_client("api:read", "--auth-method", "private_key_jwt", "--jwks-uri", uri)
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(client.client_id, key, "from-jwks-uri"),
        }
        assert http.post("/oauth/token", data=form).status_code == 200
        stranger = jwk.ECKey.generate_key("P-256")
        form["client_assertion"] = _assertion(client.client_id, stranger, "stranger")
        assert http.post("/oauth/token", data=form).status_code == 401
    finally:
        server.shutdown()
        server.server_close()
