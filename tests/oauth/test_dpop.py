"""DPoP (RFC 9449) with proofs made by joserfc in the test: bound access tokens (cnf.jkt,
token_type DPoP), replay refused, htm/htu/ath checked, the per-client switch, server nonces,
public clients' refresh tokens bound to the key, and UserInfo with Authorization: DPoP."""

from __future__ import annotations

import json
import secrets

import pytest
from authserver_verify.dpop import ath_of
from joserfc import jwt
from joserfc.jwk import ECKey

from authserver.platform import clock
from tests.conftest import init_app, make_app
from tests.oauth.test_code_flow import REDIRECT, Browser, jwks

TOKEN_URL = "http://localhost:5000/oauth/token"
USERINFO_URL = "http://localhost:5000/oauth/userinfo"


def proof(key: ECKey, url: str = TOKEN_URL, method: str = "POST", **claims) -> str:
    body = {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url,
            "iat": int(clock.timestamp()), **claims}  # fmt: skip
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, body, key, algorithms=["ES256"])


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def cc_token(http, client, dpop: str | None):
    headers = {**client.basic(), **({"DPoP": dpop} if dpop else {})}
    return http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=headers)


def test_a_proof_binds_the_access_token_to_the_key(http, make_client, key):
    client = make_client("orders:read")
    response = cc_token(http, client, proof(key))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], jwks(http)).claims
    assert claims["cnf"] == {"jkt": key.thumbprint()}
    answer = http.post("/oauth/introspect", data={"token": body["access_token"]},
                       headers=client.basic()).get_json()  # fmt: skip
    assert answer["cnf"] == {"jkt": key.thumbprint()} and answer["token_type"] == "DPoP"
    assert cc_token(http, client, None).get_json()["token_type"] == "Bearer"


def test_bad_and_replayed_proofs_are_refused(http, make_client, key):
    client = make_client()
    used = proof(key)
    assert cc_token(http, client, used).status_code == 200
    other = ECKey.generate_key("P-256")
    forged_header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    forged_claims = {"jti": "x" * 12, "htm": "POST", "htu": TOKEN_URL,
                     "iat": int(clock.timestamp())}  # fmt: skip
    forged = jwt.encode(forged_header, forged_claims, other, algorithms=["ES256"])
    for bad in (used, proof(key, url="http://localhost:5000/elsewhere"), proof(key, method="GET"),
                proof(key, iat=int(clock.timestamp()) - 600), forged, "not.a.jwt"):  # fmt: skip
        response = cc_token(http, client, bad)
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"


def test_a_client_may_require_dpop(http, make_client, key):
    client = make_client("orders:read", "--require-dpop")
    refused = cc_token(http, client, None)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_dpop_proof"
    assert cc_token(http, client, proof(key)).status_code == 200


def test_the_server_may_demand_its_nonce(tmp_path, key):
    from authserver.cli import cli

    app = make_app(tmp_path, dpop_nonce=True)
    init_app(app)
    with app.app_context():
        created = app.test_cli_runner().invoke(cli, ["clients", "create", "--name", "s", "--json"])
        client = json.loads(created.stdout)
        http = app.test_client()
        auth = (client["client_id"], client["client_secret"])
        first = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"DPoP": proof(key)}, auth=auth)  # fmt: skip
        assert first.status_code == 400 and first.get_json()["error"] == "use_dpop_nonce"
        nonce = first.headers["DPoP-Nonce"]
        second = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers={"DPoP": proof(key, nonce=nonce)}, auth=auth)  # fmt: skip
        assert second.status_code == 200 and second.get_json()["token_type"] == "DPoP"


def test_userinfo_takes_a_dpop_token_with_a_matching_proof(http, rp, user, key):
    browser = Browser(http, rp)
    callback = browser.code()
    exchanged = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier}, headers={"DPoP": proof(key)},
        auth=(rp["client_id"], rp["client_secret"])).get_json()  # fmt: skip
    access = exchanged["access_token"]
    assert exchanged["token_type"] == "DPoP"
    as_bearer = http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert as_bearer.status_code == 401
    ok = http.get("/oauth/userinfo", headers={
        "Authorization": f"DPoP {access}",
        "DPoP": proof(key, url=USERINFO_URL, method="GET", ath=ath_of(access))})  # fmt: skip
    assert ok.status_code == 200, ok.get_data(as_text=True)
    wrong_key = http.get("/oauth/userinfo", headers={
        "Authorization": f"DPoP {access}",
        "DPoP": proof(ECKey.generate_key("P-256"), url=USERINFO_URL, method="GET",
                      ath=ath_of(access))})  # fmt: skip
    assert wrong_key.status_code == 401


def test_a_public_clients_refresh_token_is_bound_to_its_key(http, runner, user, key):
    created = runner("clients", "create", "--name", "Shop", "--public", "--grant-type",
                     "authorization_code refresh_token", "--redirect-uri", REDIRECT, "--scope",
                     "openid offline_access", "--json")  # fmt: skip
    app_client = json.loads(created.stdout)
    browser = Browser(http, app_client)
    callback = browser.code(scope="openid offline_access")
    tokens = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier, "client_id": app_client["client_id"]},
        headers={"DPoP": proof(key)}).get_json()  # fmt: skip
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": app_client["client_id"]}  # fmt: skip
    stolen = http.post("/oauth/token", data=refresh,
                       headers={"DPoP": proof(ECKey.generate_key("P-256"))})  # fmt: skip
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    bare = http.post("/oauth/token", data=refresh)
    assert bare.status_code == 400
    good = http.post("/oauth/token", data=refresh, headers={"DPoP": proof(key)})
    assert good.status_code == 200 and good.get_json()["token_type"] == "DPoP"


def test_discovery_lists_the_proof_algorithms(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert "ES256" in meta["dpop_signing_alg_values_supported"]


def test_a_proof_seen_while_redis_was_down_is_not_new_once_it_is_back(tmp_path, redis_url, key):
    """During an outage the database remembers proofs; for a proof's lifetime after Redis is
    back, both are asked, so a proof accepted meanwhile cannot be replayed through Redis."""
    import time

    app = make_app(tmp_path, redis_address=redis_url)
    init_app(app)
    with app.app_context():
        from authserver.cli import cli

        created = app.test_cli_runner().invoke(cli, ["clients", "create", "--name", "svc",
                                                     "--json"])  # fmt: skip
        client = json.loads(created.stdout)
        http = app.test_client()

        def token(dpop: str):
            return http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client["client_id"], client["client_secret"]),
                             headers={"DPoP": dpop})  # fmt: skip

        link = app.extensions["authserver"].redis
        during = proof(key)
        link._degraded_since = time.monotonic()  # Redis unreachable (no prober: a test)
        assert token(during).status_code == 200  # remembered in the database
        link._recovered()
        replayed = token(during)
        assert replayed.status_code == 400 and replayed.get_json()["error"] == "invalid_dpop_proof"
        after = proof(key)
        assert token(after).status_code == 200
        assert token(after).get_json()["error"] == "invalid_dpop_proof"  # Redis's SET NX
