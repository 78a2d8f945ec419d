"""authserver_verify, local verification: verify_access_token, the JWKS cache, the Flask adapter
against the app in-process (tests/verify/test_integrations.py runs every adapter against a
served authserver)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import authserver_verify as verify
import pytest
from authserver_verify.integrations.flask import require_token
from flask import Flask
from joserfc import jwk, jwt

from authserver.platform import clock
from authserver.platform.runtime import current_runtime

ISSUER = AUDIENCE = "http://localhost:5000"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jwks_fetch(http):
    """A fetch function that talks to the real app (through Flask's test client)."""
    calls = {"count": 0, "fail": False}
    keyring = current_runtime().keyring

    def fetch(url, etag, timeout):
        calls["count"] += 1
        if calls["fail"]:
            raise OSError("issuer unreachable")
        keyring.invalidate()
        response = http.get(url.removeprefix(ISSUER), headers={"If-None-Match": etag or ""})
        return response.status_code, dict(response.headers), response.data

    fetch.calls = calls
    return fetch


@pytest.fixture
def cache(jwks_fetch):
    return verify.JWKSCache(
        ISSUER + "/.well-known/jwks.json", fetch=jwks_fetch, monotonic=Monotonic()
    )


def test_verifies_a_token_from_the_server(cache, make_client, get_token):
    client = make_client("orders:read orders:write")
    token = get_token(client, scope="orders:read")["access_token"]
    claims = verify.verify_access_token(
        token, jwks=cache, issuer=ISSUER, audience=AUDIENCE, required_scopes=["orders:read"]
    )
    assert claims["client_id"] == client.client_id


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"issuer": "https://evil.example"}, verify.InvalidClaims),
        ({"audience": "https://other-api.example"}, verify.InvalidClaims),
        ({"required_scopes": ["orders:write"]}, verify.InsufficientScope),
        ({"now": lambda: 10**10}, verify.ExpiredToken),
        ({"now": lambda: 10**5}, verify.InvalidClaims),  # issued in the future
    ],
)
def test_refuses_wrong_claims(cache, make_client, get_token, kwargs, error):
    token = get_token(make_client("orders:read"), scope="orders:read")["access_token"]
    args = {"jwks": cache, "issuer": ISSUER, "audience": AUDIENCE} | kwargs
    with pytest.raises(error):
        verify.verify_access_token(token, **args)


def _forge(header: dict, claims: dict, key) -> str:
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_refuses_forged_and_confused_tokens(cache, make_client, get_token, http):
    token = get_token(make_client())["access_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    kid = header["kid"]
    args = {"jwks": cache, "issuer": ISSUER, "audience": AUDIENCE}

    # alg none
    unsigned = f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{_b64(claims)}."
    with pytest.raises(verify.InvalidToken):
        verify.verify_access_token(unsigned, **args)
    # HS256 keyed with the published public key
    public = next(
        k for k in http.get("/.well-known/jwks.json").get_json()["keys"] if k["kid"] == kid
    )
    hmac_key = jwk.OctKey.import_key(json.dumps(public).encode())
    with pytest.raises(verify.InvalidToken):
        verify.verify_access_token(
            _forge({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, hmac_key), **args
        )
    # a real signature by a key the issuer does not publish
    stranger = jwk.ECKey.generate_key("P-256")
    with pytest.raises(verify.UnknownKey):
        verify.verify_access_token(
            _forge({"alg": "ES256", "typ": "at+jwt", "kid": "nope"}, claims, stranger), **args
        )
    # right kid, wrong key
    with pytest.raises(verify.InvalidToken):
        verify.verify_access_token(
            _forge({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, stranger), **args
        )
    # not typed as an access token (e.g. an ID token)
    with pytest.raises(verify.InvalidToken):
        verify.verify_access_token(
            _forge({"alg": "ES256", "typ": "JWT", "kid": kid}, claims, stranger), **args
        )
    for garbage in ("", "a.b", "a.b.c", "x" * 20000):
        with pytest.raises(verify.InvalidToken):
            verify.verify_access_token(garbage, **args)


def test_cache_honours_max_age_and_etag(cache, jwks_fetch, make_client, get_token):
    token = get_token(make_client())["access_token"]
    args = {"jwks": cache, "issuer": ISSUER, "audience": AUDIENCE}
    verify.verify_access_token(token, **args)
    verify.verify_access_token(token, **args)
    assert jwks_fetch.calls["count"] == 1
    cache._monotonic.now += 301  # max-age=300 passed: revalidate with If-None-Match
    verify.verify_access_token(token, **args)
    assert jwks_fetch.calls["count"] == 2
    assert cache._etag is not None


def test_unknown_kids_refresh_at_most_once_per_interval(cache, jwks_fetch):
    for i in range(50):
        with pytest.raises(verify.UnknownKey):
            cache.get(f"random-kid-{i}")
    assert jwks_fetch.calls["count"] == 1
    cache._monotonic.now += 10
    with pytest.raises(verify.UnknownKey):
        cache.get("another")
    assert jwks_fetch.calls["count"] == 2


def test_a_new_key_is_found_by_an_unknown_kid_refresh(cache, runner, make_client, get_token):
    client = make_client()
    clock.freeze()  # `rotate --now` waits for the key to be published: on this clock
    args = {"jwks": cache, "issuer": ISSUER, "audience": AUDIENCE}
    verify.verify_access_token(get_token(client)["access_token"], **args)
    assert runner("keys", "rotate", "--now", "--alg", "ES256").exit_code == 0
    current_runtime().keyring.invalidate()
    cache._monotonic.now += 11
    # The server's clock has moved to the key's activation; the verifier reads the same clock.
    on_server_time = {**args, "now": lambda: clock.now().timestamp()}
    verify.verify_access_token(get_token(client)["access_token"], **on_server_time)


def test_keeps_the_last_good_set_when_the_issuer_is_unreachable(
    cache, jwks_fetch, make_client, get_token
):
    token = get_token(make_client())["access_token"]
    args = {"jwks": cache, "issuer": ISSUER, "audience": AUDIENCE}
    verify.verify_access_token(token, **args)
    jwks_fetch.calls["fail"] = True
    cache._monotonic.now += 1000
    assert verify.verify_access_token(token, **args)["jti"]


def test_no_key_set_at_all_is_unavailable(jwks_fetch):
    jwks_fetch.calls["fail"] = True
    cache = verify.JWKSCache(ISSUER + "/.well-known/jwks.json", fetch=jwks_fetch)
    with pytest.raises(verify.JWKSUnavailable):
        cache.get("any")


def test_require_token_decorator(cache, make_client, get_token):
    api = Flask("api")

    @api.get("/orders")
    @require_token(verify.ResourceServer(ISSUER, AUDIENCE, jwks=cache), ["orders:read"])
    def orders():
        from flask import g

        return {"caller": g.token_claims["client_id"]}

    client = make_client("orders:read other")
    http = api.test_client()
    good = get_token(client, scope="orders:read")["access_token"]
    weak = get_token(client, scope="other")["access_token"]
    assert http.get("/orders", headers={"Authorization": f"Bearer {good}"}).json == {
        "caller": client.client_id
    }
    missing = http.get("/orders")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    forbidden = http.get("/orders", headers={"Authorization": f"Bearer {weak}"})
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["WWW-Authenticate"]


def test_importing_verify_pulls_in_no_server_code():
    code = (
        "import sys, authserver_verify\n"
        "bad = [m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy', 'authserver',"
        " 'authlib', 'django', 'starlette') if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_require_token_with_dpop_checks_the_proof(cache, make_client, http):
    # RFC 9449 §7: a resource server with require_token(..., dpop=True).
    from authserver_verify.dpop import ath_of
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import ECKey

    api = Flask("api")

    resource = verify.ResourceServer(ISSUER, AUDIENCE, jwks=cache)

    @api.get("/orders")
    @require_token(resource, ["orders:read"], dpop=True)
    def orders():
        return {"ok": True}

    @api.get("/plain")
    @require_token(resource, ["orders:read"])
    def plain():
        return {"ok": True}

    key = ECKey.generate_key("P-256")

    def proof(url: str, method: str, **claims) -> str:
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
        body = {"jti": os.urandom(12).hex(), "htm": method, "htu": url,
                "iat": int(time.time()), **claims}  # fmt: skip
        return jose_jwt.encode(header, body, key, algorithms=["ES256"])

    client = make_client("orders:read")
    bound = {**client.basic(), "DPoP": proof("http://localhost:5000/oauth/token", "POST")}
    issued = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=bound)
    token = issued.get_json()["access_token"]
    rs = api.test_client()
    good = proof("http://localhost/orders", "GET", ath=ath_of(token))
    headers = {"Authorization": f"DPoP {token}", "DPoP": good}
    assert rs.get("/orders", headers=headers).status_code == 200
    assert rs.get("/orders", headers=headers).status_code == 401  # the same proof again
    no_ath = proof("http://localhost/orders", "GET")
    assert rs.get("/orders", headers={"Authorization": f"DPoP {token}", "DPoP": no_ath}
                  ).status_code == 401  # fmt: skip
    as_bearer = rs.get("/plain", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401 and "DPoP-bound" in as_bearer.json["error_description"]


def test_the_example_resource_server_runs_with_a_token_of_this_server(
    make_client, get_token, jwks_fetch, monkeypatch
):
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "resource_server.py"
    monkeypatch.setenv("AUTHSERVER_ISSUER", ISSUER)
    namespace = runpy.run_path(str(example), run_name="example")
    namespace["api"].jwks._fetch = jwks_fetch  # the app in-process instead of HTTP
    http = namespace["app"].test_client()
    assert http.get("/orders").status_code == 401
    token = get_token(make_client("demo:read"), scope="demo:read")["access_token"]
    answer = http.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json["orders"]


def test_a_reply_that_is_not_http_leaves_the_key_set_unavailable_not_an_exception():
    import http.client

    def broken(url, etag, timeout):
        raise http.client.BadStatusLine("SSH-2.0-OpenSSH")

    cache = verify.JWKSCache(ISSUER + "/.well-known/jwks.json", fetch=broken)
    with pytest.raises(verify.JWKSUnavailable):
        cache.get("any")
    introspector = verify.Introspector(ISSUER + "/oauth/introspect", "id", "secret",
                                       post=lambda *a: (_ for _ in ()).throw(
                                           http.client.IncompleteRead(b"")))  # fmt: skip
    with pytest.raises(verify.IntrospectionUnavailable) as raised:
        introspector.introspect("token")
    assert "IncompleteRead" not in str(raised.value)


def test_seen_proofs_stay_bounded_and_forget_the_oldest_first():
    from authserver_verify.resource import _SeenProofs

    seen = _SeenProofs(limit=3)
    for jti in ("a", "b", "c", "d"):
        assert seen.first_use(jti, ttl=60)
    assert not seen.first_use("d", ttl=60) and not seen.first_use("b", ttl=60)
    assert seen.first_use("a", ttl=60)  # the oldest went when the table was full
    assert len(seen._until) == 3
    expired = _SeenProofs(limit=100)
    assert expired.first_use("x", ttl=-1) and expired.first_use("x", ttl=60)  # expired: gone
