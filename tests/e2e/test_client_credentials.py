"""End to end against `authserver serve`: a real client library (Authlib's OAuth2Session)
gets a token, JWKS is fetched over HTTP and verifies it with joserfc, then introspection and
revocation; the server's log, at DEBUG, holds no secret, token or key material."""

from __future__ import annotations

import json

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.served_logs import access_lines_by_id
from tests.server_process import ServerProcess


@pytest.fixture
def server(tmp_path):
    server = ServerProcess(tmp_path, AUTHSERVER_LOG_LEVEL="DEBUG")
    server.init_output = server.cli("init", "--demo")
    server.client = server.orders_client("e2e")
    with server.running():
        yield server


def test_token_jwks_introspection_revocation(server):
    meta = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10).json()
    client_id, secret = server.client["client_id"], server.client["client_secret"]
    with OAuth2Session(client_id, secret, scope="orders:read") as session:
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    access = token["access_token"]
    assert token["token_type"] == "Bearer" and token["scope"] == "orders:read"

    jwks_response = requests.get(meta["jwks_uri"], timeout=10)
    assert jwks_response.headers["Cache-Control"].startswith("public, max-age=")
    etag = jwks_response.headers["ETag"]
    assert (
        requests.get(meta["jwks_uri"], headers={"If-None-Match": etag}, timeout=10).status_code
        == 304
    )
    decoded = jwt.decode(access, KeySet.import_key_set(jwks_response.json()), algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"] in {k["kid"] for k in jwks_response.json()["keys"]}
    assert decoded.claims["iss"] == server.issuer and decoded.claims["client_id"] == client_id

    auth = (client_id, secret)
    active = requests.post(
        meta["introspection_endpoint"], data={"token": access}, auth=auth, timeout=10
    )
    assert active.json()["active"] is True and active.json()["scope"] == "orders:read"
    revoked = requests.post(
        meta["revocation_endpoint"], data={"token": access}, auth=auth, timeout=10
    )
    assert revoked.status_code == 200
    after = requests.post(
        meta["introspection_endpoint"], data={"token": access}, auth=auth, timeout=10
    )
    assert after.json() == {"active": False}

    wrong = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(client_id, "wrong"),
        timeout=10,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_the_log_holds_no_secrets(server, tmp_path):
    client_id, secret = server.client["client_id"], server.client["client_secret"]
    demo_secret = server.init_output.split("client_secret:")[1].split()[0]
    token_url = server.issuer + "/oauth/token"
    answered = []

    def post(url: str, **options: object) -> requests.Response:
        response = requests.post(url, timeout=10, **options)
        answered.append(response.headers["X-Request-Id"])
        return response

    tokens = []
    for _ in range(3):
        response = post(
            token_url,
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        tokens.append(response.json()["access_token"])
    for access in tokens:
        post(
            server.issuer + "/oauth/introspect",
            data={"token": access},
            auth=(client_id, secret),
        )
    post(
        server.issuer + "/oauth/revoke",
        data={"token": tokens[0]},
        auth=(client_id, secret),
    )
    post(
        token_url,
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret + "x"),
    )
    post(
        token_url,
        data=f"grant_type=client_credentials&client_secret={secret}&x=%00",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    access_lines_by_id(server, waiting_for=answered)  # written a moment after each answer
    log = server.log()
    assert "POST /oauth/token" in log and "POST /oauth/introspect" in log  # the log is there
    # Structured: every line is one JSON object; every line of a request names its request id.
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "authserver.access"]
    assert len(access) >= 8
    assert all(len(line["request_id"]) == 16 and "?" not in line["path"] for line in access)
    assert {line["status"] for line in access} >= {200, 401}
    kek = (tmp_path / "keys" / "kek").read_text().strip()
    forbidden = [secret, demo_secret, kek, *tokens, *(t.split(".")[2] for t in tokens)]
    for value in forbidden:
        assert value not in log
    assert "PRIVATE KEY" not in log
