"""authserver-verify's adapters, each with its framework's own test client, against a served
authserver: real tokens from its token endpoint, its JWKS fetched over HTTP, its introspection
endpoint asked. Flask, FastAPI, Starlette and Django answer the same: 200 with the claims for a
good token, 401 invalid_token without one or for a forged one, 403 insufficient_scope with the
scope needed, and for a DPoP-bound token the proof checked and used once."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests
from authserver_verify import Introspector, ResourceServer
from authserver_verify.dpop import ath_of
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from tests.server_process import ServerProcess

READ = "orders:read"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("served"))
    server.cli("init")
    server.cli("roles", "create", "orders", "--scope", READ, "--scope", "orders:write")
    server.client = json.loads(server.cli(
        "clients", "create", "--name", "caller", "--scope", READ, "--scope", "orders:write",
        "--role", "orders", "--json",
    ))  # fmt: skip
    server.api_client = json.loads(server.cli(
        "clients", "create", "--name", "orders-api", "--role", "resource-server", "--json",
    ))  # fmt: skip
    with server.running(workers=1):
        yield server


def _token(served, scope: str, dpop_key: ECKey | None = None) -> str:
    url = served.issuer + "/oauth/token"
    headers = {"DPoP": _proof(dpop_key, "POST", url)} if dpop_key else {}
    answer = requests.post(
        url, data={"grant_type": "client_credentials", "scope": scope}, headers=headers,
        auth=(served.client["client_id"], served.client["client_secret"]), timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _proof(key: ECKey, method: str, url: str, **claims) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    body = {"jti": os.urandom(12).hex(), "htm": method, "htu": url, "iat": int(time.time()),
            **claims}  # fmt: skip
    return jose_jwt.encode(header, body, key, algorithms=["ES256"])


@pytest.fixture(scope="module")
def tokens(served):
    key = ECKey.generate_key("P-256")
    return {
        "read": _token(served, READ),
        "write": _token(served, "orders:write"),
        "bound": _token(served, READ, dpop_key=key),
        "key": key,
    }


def _flask_app(resource: ResourceServer):
    from authserver_verify.integrations.flask import require_token
    from flask import Flask, g

    app = Flask("orders")

    @app.get("/orders")
    @require_token(resource, [READ])
    def orders():
        return {"caller": g.token_claims["client_id"]}

    @app.get("/bound")
    @require_token(resource, [READ], dpop=True)
    def bound():
        return {"caller": g.token_claims["client_id"]}

    client = app.test_client()

    def get(path: str, headers: dict):
        response = client.get(path, headers=headers, base_url="http://testserver")
        return response.status_code, response.headers, response.get_json()

    return get


def _fastapi_app(resource: ResourceServer):
    from authserver_verify.integrations.starlette import RequireToken
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/orders")
    async def orders(claims: dict = Depends(RequireToken(resource, [READ]))):  # noqa: B008
        return {"caller": claims["client_id"]}

    @app.get("/bound")
    async def bound(claims: dict = Depends(RequireToken(resource, [READ], dpop=True))):  # noqa: B008
        return {"caller": claims["client_id"]}

    client = TestClient(app, base_url="http://testserver")

    def get(path: str, headers: dict):
        response = client.get(path, headers=headers)
        body = response.json()
        return response.status_code, response.headers, body.get("detail", body)

    return get


def _starlette_app(resource: ResourceServer):
    from authserver_verify.integrations.starlette import requires_token
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    @requires_token(resource, [READ])
    async def orders(request):
        return JSONResponse({"caller": request.state.token_claims["client_id"]})

    @requires_token(resource, [READ], dpop=True)
    async def bound(request):
        return JSONResponse({"caller": request.state.token_claims["client_id"]})

    app = Starlette(routes=[Route("/orders", orders), Route("/bound", bound)])
    client = TestClient(app, base_url="http://testserver")

    def get(path: str, headers: dict):
        response = client.get(path, headers=headers)
        return response.status_code, response.headers, response.json()

    return get


def _django_app(resource: ResourceServer):
    import django
    from authserver_verify.integrations.django import require_token
    from django.conf import settings
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import path

    @require_token(resource, [READ])
    def orders(request):
        return JsonResponse({"caller": request.token_claims["client_id"]})

    @require_token(resource, [READ], dpop=True)
    def bound(request):
        return JsonResponse({"caller": request.token_claims["client_id"]})

    global urlpatterns
    urlpatterns = [path("orders", orders), path("bound", bound)]
    if not settings.configured:
        settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"], MIDDLEWARE=[],
                           INSTALLED_APPS=[], DEBUG=False, SECRET_KEY="unused")  # fmt: skip
        django.setup()
    client = Client()

    def get(route: str, headers: dict):
        response = client.get("/" + route.lstrip("/"), headers=headers)
        return response.status_code, response, json.loads(response.content)

    return get


urlpatterns: list = []
FRAMEWORKS = {
    "flask": _flask_app, "fastapi": _fastapi_app, "starlette": _starlette_app,
    "django": _django_app,
}  # fmt: skip


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_each_adapter_accepts_refuses_and_challenges_alike(served, tokens, framework):
    resource = ResourceServer(served.issuer, audience=served.issuer)
    get = FRAMEWORKS[framework](resource)
    client_id = served.client["client_id"]

    status, _, body = get("/orders", {"Authorization": f"Bearer {tokens['read']}"})
    assert (status, body) == (200, {"caller": client_id})

    status, headers, body = get("/orders", {})
    assert status == 401 and body["error"] == "invalid_token"
    assert headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

    forged = tokens["read"][:-4] + ("AAAA" if not tokens["read"].endswith("AAAA") else "BBBB")
    status, _, body = get("/orders", {"Authorization": f"Bearer {forged}"})
    assert status == 401 and body["error"] == "invalid_token"

    status, headers, body = get("/orders", {"Authorization": f"Bearer {tokens['write']}"})
    assert status == 403 and body["error"] == "insufficient_scope"
    assert headers["WWW-Authenticate"] == f'Bearer error="insufficient_scope", scope="{READ}"'

    # RFC 9449 §7.2: a DPoP-bound token is not a Bearer token.
    status, _, body = get("/orders", {"Authorization": f"Bearer {tokens['bound']}"})
    assert status == 401 and "DPoP-bound" in body["error_description"]

    proof = _proof(tokens["key"], "GET", "http://testserver/bound", ath=ath_of(tokens["bound"]))
    dpop = {"Authorization": f"DPoP {tokens['bound']}", "DPoP": proof}
    assert get("/bound", dpop)[:1] == (200,)
    status, headers, _ = get("/bound", dpop)  # the same proof again
    assert status == 401 and headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    elsewhere = _proof(tokens["key"], "GET", "http://testserver/orders",
                       ath=ath_of(tokens["bound"]))  # fmt: skip
    assert get("/bound", {**dpop, "DPoP": elsewhere})[0] == 401  # htu of another URL


def test_introspection_caches_answers_and_sees_a_revocation_within_its_ttl(served):
    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    api = served.api_client
    introspector = Introspector(served.issuer + "/oauth/introspect", api["client_id"],
                                api["client_secret"], positive_ttl_seconds=10,
                                negative_ttl_seconds=5, monotonic=clock)  # fmt: skip
    token = _token(served, READ)
    assert introspector.require_active(token, [READ])["client_id"] == served.client["client_id"]
    assert introspector.require_active(token, [READ]) and introspector.requests == 1  # cached
    with pytest.raises(Exception, match="missing scope: orders:write"):
        introspector.require_active(token, ["orders:write"])

    revoked = requests.post(served.issuer + "/oauth/revoke", data={"token": token},
                            auth=(served.client["client_id"], served.client["client_secret"]),
                            timeout=10)  # fmt: skip
    assert revoked.status_code == 200
    assert introspector.introspect(token)["active"] is True  # still within the positive TTL
    clock.now += 11
    assert introspector.introspect(token) == {"active": False}
    assert introspector.requests == 2
    from authserver_verify import InvalidToken

    with pytest.raises(InvalidToken):
        introspector.require_active(token)
    assert introspector.requests == 2  # the negative answer is cached too


def test_introspection_that_cannot_be_asked_is_unavailable_not_inactive(served):
    from authserver_verify import IntrospectionUnavailable

    wrong = Introspector(served.issuer + "/oauth/introspect", "nobody", "wrong")
    with pytest.raises(IntrospectionUnavailable) as raised:
        wrong.introspect(_token(served, READ))
    assert raised.value.status == 503


def test_a_proof_for_another_host_is_refused_whatever_host_header_the_client_sends(served, tokens):
    from authserver_verify.integrations.flask import require_token
    from flask import Flask, g

    resource = ResourceServer(served.issuer, audience=served.issuer,
                              public_url="https://orders.example")  # fmt: skip
    app = Flask("orders")

    @app.get("/bound")
    @require_token(resource, [READ], dpop=True)
    def bound():
        return {"caller": g.token_claims["client_id"]}

    client = app.test_client()
    token = tokens["bound"]

    def call(htu: str, host: str, *, twice: bool = False) -> int:
        proof = _proof(tokens["key"], "GET", htu, ath=ath_of(token))
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof, "Host": host}
        if twice:
            headers["DPoP"] = f"{proof}, {proof}"
        return client.get("/bound", headers=headers).status_code

    # A proof made for another API, replayed here with that API's Host header: refused.
    assert call("https://other.example/bound", "other.example") == 401
    # Behind a TLS-terminating proxy the request looks like http://internal: the proof is for
    # the public URL, and that is what is checked.
    assert call("https://orders.example/bound", "internal:8080") == 200
    assert call("https://orders.example/bound", "orders.example", twice=True) == 401


def test_introspection_refuses_a_dpop_bound_token_and_another_audience(served, tokens):
    from authserver_verify import InvalidToken

    api = served.api_client
    introspector = Introspector(served.issuer + "/oauth/introspect", api["client_id"],
                                api["client_secret"], audience=served.issuer)  # fmt: skip
    assert introspector.require_active(tokens["read"], [READ])["active"] is True
    with pytest.raises(InvalidToken, match="DPoP-bound"):
        introspector.require_active(tokens["bound"], [READ])  # RFC 9449 §7.2: no proof here
    elsewhere = Introspector(served.issuer + "/oauth/introspect", api["client_id"],
                             api["client_secret"], audience="https://billing.example")  # fmt: skip
    with pytest.raises(InvalidToken, match="another audience"):
        elsewhere.require_active(tokens["read"], [READ])
    answer = introspector.introspect(tokens["read"])
    answer["active"] = False  # a caller's change does not reach the cache
    assert introspector.introspect(tokens["read"])["active"] is True
