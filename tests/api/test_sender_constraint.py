"""A DPoP-bound access token (``cnf.jkt``) is a token only with a proof of its key, wherever the
server itself accepts tokens (RFC 9449 §7.1): the admin API and dynamic registration, as
UserInfo already did. Sent as a Bearer token it is refused (§7.2)."""

from __future__ import annotations

import json

import pytest
from authserver_verify.dpop import ath_of
from joserfc.jwk import ECKey

from authserver.cli import cli
from tests.api.conftest import ALL
from tests.conftest import init_app, make_app
from tests.oauth.test_dpop import cc_token, proof

USERS_URL = "http://localhost:5000/api/v1/users"
REGISTER_URL = "http://localhost:5000/oauth/register"


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def _bound_token(http, client, key) -> str:
    response = cc_token(http, client, proof(key))
    assert response.status_code == 200 and response.get_json()["token_type"] == "DPoP"
    return response.get_json()["access_token"]


def test_a_bound_token_needs_its_proof_at_the_admin_api(http, make_client, key):
    token = _bound_token(http, make_client("users:read"), key)
    as_bearer = http.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    assert 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
    no_proof = http.get("/api/v1/users", headers={"Authorization": f"DPoP {token}"})
    assert no_proof.status_code == 401
    assert "invalid_dpop_proof" in no_proof.headers["WWW-Authenticate"]
    good = proof(key, url=USERS_URL, method="GET", ath=ath_of(token))
    ok = http.get("/api/v1/users", headers={"Authorization": f"DPoP {token}", "DPoP": good})
    assert ok.status_code == 200, ok.get_json()
    # The same proof again is a replay; a proof for another URL, method, token or key is not
    # a proof for this request.
    replay = http.get("/api/v1/users", headers={"Authorization": f"DPoP {token}", "DPoP": good})
    assert replay.status_code == 401
    for bad in (
        proof(key, url="http://localhost:5000/api/v1/clients", method="GET", ath=ath_of(token)),
        proof(key, url=USERS_URL, method="POST", ath=ath_of(token)),
        proof(key, url=USERS_URL, method="GET", ath=ath_of(token + "x")),
        proof(ECKey.generate_key("P-256"), url=USERS_URL, method="GET", ath=ath_of(token)),
    ):
        refused = http.get("/api/v1/users", headers={"Authorization": f"DPoP {token}", "DPoP": bad})
        assert refused.status_code == 401


def test_an_unbound_token_is_not_a_dpop_token(http, make_client, get_token, key):
    token = get_token(make_client("users:read"))["access_token"]
    assert (
        http.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    as_dpop = http.get("/api/v1/users", headers={
        "Authorization": f"DPoP {token}",
        "DPoP": proof(key, url=USERS_URL, method="GET", ath=ath_of(token))})  # fmt: skip
    assert as_dpop.status_code == 401


def test_a_bound_initial_access_token_needs_its_proof_at_registration(tmp_path, key):
    app = make_app(tmp_path, dynamic_registration=True)
    init_app(app)
    with app.app_context():
        http = app.test_client()
        runner = app.test_cli_runner()
        role = runner.invoke(cli, ["roles", "create", "registrars", "--scope", "clients:register"])
        assert role.exit_code == 0, role.output
        made = runner.invoke(cli, ["clients", "create", "--name", "registrar", "--scope",
                                   "clients:register", "--role", "registrars",
                                   "--json"])  # fmt: skip
        assert made.exit_code == 0, made.output
        registrar = json.loads(made.stdout)
        token = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"},
            headers={"DPoP": proof(key)}, auth=(registrar["client_id"], registrar["client_secret"]),
        ).get_json()["access_token"]  # fmt: skip
        metadata = {"client_name": "Robot", "grant_types": ["client_credentials"]}
        as_bearer = http.post("/oauth/register", json=metadata,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert as_bearer.status_code == 401 and as_bearer.get_json()["error"] == "invalid_token"
        good = http.post("/oauth/register", json=metadata, headers={
            "Authorization": f"DPoP {token}",
            "DPoP": proof(key, url=REGISTER_URL, method="POST", ath=ath_of(token))})  # fmt: skip
        assert good.status_code == 201, good.get_json()


def test_the_challenge_offers_both_schemes(anonymous):
    challenge = anonymous("GET", "/users").headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and ", DPoP " in challenge and "ES256" in challenge


def test_every_permission_still_works_with_a_bound_token(http, make_client, key):
    # A bound token carries its scopes as any other: the sender constraint adds, never removes.
    token = _bound_token(http, make_client(ALL), key)
    response = http.get("/api/v1/audit-events", headers={
        "Authorization": f"DPoP {token}",
        "DPoP": proof(key, url="http://localhost:5000/api/v1/audit-events", method="GET",
                      ath=ath_of(token))})  # fmt: skip
    assert response.status_code == 200
