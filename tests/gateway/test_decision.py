"""/gateway/check in-process: each gateway's way of naming the original request, each credential
kind, the rule's demands, limits and quotas (with a movable clock), the identity handed upstream,
and the usage counted."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import secrets

import pytest
from authserver_verify import JWKSCache, verify_access_token
from authserver_verify.dpop import ath_of
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import select

from authserver.gateway.decision import explain
from authserver.gateway.endpoint import gateway_usage_of
from authserver.models import GatewayUsage
from authserver.platform import clock
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db


def proof(key: ECKey, url: str, method: str, **claims) -> str:
    """A DPoP proof (RFC 9449 §4.2) of ``key`` for ``method url``."""
    body = {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url,
            "iat": int(clock.timestamp()), **claims}  # fmt: skip
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, body, key, algorithms=["ES256"])


TOKEN_URL = "http://localhost:5000/oauth/token"
NGINX = {
    "X-Original-Method": "GET",
    "X-Forwarded-Host": "api.example",
    "X-Forwarded-Proto": "https",
}


@pytest.fixture
def rule(runner):
    def add(name="orders", *args):
        result = runner("gateway", "rules", "add", name, *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    add.runner = runner
    return add


@pytest.fixture
def check(http):
    def ask(uri="/orders/7", token=None, method="GET", scheme="Bearer", **headers):
        sent = {**NGINX, "X-Original-URI": uri, "X-Original-Method": method, **headers}
        if token is not None:
            sent["Authorization"] = f"{scheme} {token}"
        return http.get("/gateway/check", headers=sent)

    return ask


@pytest.fixture
def token(make_client, get_token):
    client = make_client("orders:read")
    value = get_token(client)["access_token"]
    value_client = client
    return value, value_client


def test_a_token_with_the_scope_is_allowed_with_its_identity(rule, check, token):
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    access_token, client = token
    answer = check(token=access_token)
    assert answer.status_code == 200
    assert answer.headers["X-Auth-Subject"] == client.client_id
    assert answer.headers["X-Auth-Client-Id"] == client.client_id
    assert answer.headers["X-Auth-Credential"] == "jwt"
    assert answer.headers["X-Auth-Scope"] == "orders:read"
    assert answer.headers["X-Auth-Rule"] == "orders"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "X-Auth-Token" not in answer.headers


def test_default_deny_and_each_refusal(rule, check, token, make_client, get_token):
    rule("orders", "--path", "/orders", "--scope", "orders:write")
    access_token, _ = token
    assert check("/elsewhere", access_token).status_code == 403  # no rule
    assert check("/ordersx", access_token).status_code == 403  # a prefix ends at a segment
    scope = check(token=access_token)
    assert scope.status_code == 403
    assert 'error="insufficient_scope"' in scope.headers["WWW-Authenticate"]
    assert 'scope="orders:write"' in scope.headers["WWW-Authenticate"]
    missing = check()
    assert missing.status_code == 401 and "error=" not in missing.headers["WWW-Authenticate"]
    bad = check(token=access_token[:-4] + "AAAA")
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]


def test_ambiguous_paths_and_missing_headers_are_refused(rule, check, token, http):
    rule("public", "--path", "/public", "--credential", "anonymous")
    assert check("/public/a").status_code == 200
    for uri in ("/public/../admin", "/public/%2e%2e/admin", "/public%2fx", "/public/./a",
                "/public\\a", "relative"):  # fmt: skip
        assert check(uri).status_code == 400, uri
    assert http.get("/gateway/check").status_code == 400  # nothing names the original request


def test_a_rule_matches_whole_segments_only(rule, check):
    rule("public", "--path", "/public", "--credential", "anonymous")
    rule("avatar", "--path", "/users/*/avatar", "--credential", "anonymous")
    assert check("/public").status_code == 200
    assert check("/public/a").status_code == 200
    for uri in ("/publicadmin", "/public-internal/secrets", "/users/1/avatar_private",
                "/users/1/avatar/delete", "/users/1/2/avatar"):  # fmt: skip
        assert check(uri).status_code == 403, uri  # no rule: denied
    assert check("/users/1/avatar").status_code == 200


def test_the_path_is_read_as_the_upstream_will_read_it(rule, check, http):
    """nginx and Caddy hand the upstream "//admin/users" as "/admin/users": so must the rules
    see it, never as a URL whose host is "admin"."""
    rule("users", "--path", "/users", "--credential", "anonymous")
    for uri in ("//admin/users", "/users//../admin", "/users#/../admin", "/users\x01",
                "//[x", "//[::1/x"):  # fmt: skip
        assert check(uri).status_code in (400, 403), uri
    assert check("//users/1").status_code == 200  # the upstream gets /users/1
    assert check("/users//1?next=//evil").status_code == 200
    for url in ("https://api.example//admin/users", "http://[::1/x", "https://api.example/u#x"):
        answer = http.get("/gateway/check", headers={"X-Original-URL": url,
                                                     "X-Original-Method": "GET"})  # fmt: skip
        assert answer.status_code in (400, 403), url
    assert http.get("/gateway/check//admin/users").status_code == 403  # Envoy's, the same
    assert http.get("/gateway/check//[x").status_code == 403  # a path "/[x", no rule for it
    assert check("/users/1", method=" ").status_code == 400
    assert check("/users/1", method="G@T").status_code == 400


def test_the_host_is_read_as_nginx_routes_it(rule, check):
    rule("admin", "--host", "admin.example", "--path", "/", "--scope", "admin:all")
    rule("public", "--path", "/", "--credential", "anonymous")
    for host in ("admin.example", "ADMIN.example.", "admin.example.:443", "admin.example:8443"):
        assert check("/x", **{"X-Forwarded-Host": host}).status_code == 401, host
    for host in ("admin.example..", "admin example", "admin.example:x", "a/b", "[::1"):
        assert check("/x", **{"X-Forwarded-Host": host}).status_code == 400, host
    assert check("/x", **{"X-Forwarded-Host": "www.example"}).status_code == 200


def test_methods_hosts_and_patterns(rule, check, token):
    access_token, _ = token
    rule("read", "--path", "/v*/orders/**", "--host", "*.example", "--method", "GET",
         "--scope", "orders:read")  # fmt: skip
    assert check("/v2/orders/7/lines", access_token).status_code == 200
    assert check("/v2/orders/7", access_token, method="DELETE").status_code == 403
    assert check("/v2/x/orders/7", access_token).status_code == 403  # * is one segment
    assert (
        check("/v2/orders/7", access_token, **{"X-Forwarded-Host": "evil.test"}).status_code == 403
    )


def test_each_gateways_headers_name_the_original_request(rule, http, token):
    rule("orders", "--path", "/orders", "--scope", "orders:read", "--method", "POST")
    access_token, _ = token
    auth = {"Authorization": f"Bearer {access_token}"}
    caddy = {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/orders/1?x=1",
             "X-Forwarded-Host": "api.example", **auth}  # fmt: skip
    assert http.get("/gateway/check", headers=caddy).status_code == 200
    url = {"X-Original-URL": "https://api.example/orders/1", "X-Original-Method": "POST", **auth}
    assert http.get("/gateway/check", headers=url).status_code == 200
    # Envoy ext_authz: the original method, and the original path appended to the check path.
    assert http.post("/gateway/check/orders/1", headers=auth).status_code == 200
    assert http.get("/gateway/check/orders/1", headers=auth).status_code == 403
    # Envoy's check for the root path ends in a slash.
    assert http.get("/gateway/check/", headers=auth).status_code == 403  # no rule for "/"


def test_api_keys_in_either_header_and_credential_kinds(rule, check, runner, make_client, token):
    owner = make_client("orders:read")
    made = runner("apikeys", "create", "--client", owner.client_id, "--scope", "orders:read",
                  "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    rule("orders", "--path", "/orders", "--scope", "orders:read", "--credential", "api_key")
    by_header = check(**{"X-API-Key": key["key"]})
    assert by_header.status_code == 200
    assert by_header.headers["X-Auth-Key-Id"] == key["id"]
    assert by_header.headers["X-Auth-Credential"] == "api_key"
    assert check(token=key["key"]).status_code == 200
    assert check(**{"X-API-Key": key["key"][:-2] + "xx"}).status_code == 401
    jwt_answer = check(token=token[0])  # this route takes API keys only
    assert jwt_answer.status_code == 401
    assert runner("apikeys", "revoke", key["id"]).exit_code == 0
    assert check(**{"X-API-Key": key["key"]}).status_code == 401


def test_revocation_is_honoured_at_once(rule, check, http, token):
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    access_token, client = token
    assert check(token=access_token).status_code == 200
    revoked = http.post("/oauth/revoke", data={"token": access_token}, headers=client.basic())
    assert revoked.status_code == 200
    assert check(token=access_token).status_code == 401


def bound_token(http, make_client) -> tuple[ECKey, str]:  # noqa: ANN001
    """A DPoP key and an access token bound to it (RFC 9449 §6), for a client with orders:read."""
    key = ECKey.generate_key("P-256")
    client = make_client("orders:read")
    issued = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**client.basic(), "DPoP": proof(key, TOKEN_URL, "POST")},
    )
    return key, issued.get_json()["access_token"]


def test_a_dpop_bound_token_needs_its_proof_for_the_original_request(rule, check, http,
                                                                      make_client):  # fmt: skip
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    key, bound = bound_token(http, make_client)
    assert check(token=bound).status_code == 401  # as a Bearer token: refused (RFC 9449 §7.2)
    assert check(token=bound, scheme="DPoP").status_code == 401  # no proof
    url = "https://api.example/orders/7"
    good = proof(key, url, "GET", ath=ath_of(bound))
    answer = check(token=bound, scheme="DPoP", DPoP=good)
    assert answer.status_code == 200 and answer.headers["X-Auth-Credential"] == "dpop"
    assert check(token=bound, scheme="DPoP", DPoP=good).status_code == 401  # replayed
    wrong_url = proof(key, "https://api.example/other", "GET", ath=ath_of(bound))
    assert check(token=bound, scheme="DPoP", DPoP=wrong_url).status_code == 401
    wrong_method = proof(key, url, "POST", ath=ath_of(bound))
    assert check(token=bound, scheme="DPoP", DPoP=wrong_method).status_code == 401


def test_the_original_port_is_kept_in_the_url_a_proof_names(rule, check, http, make_client):
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    key, bound = bound_token(http, make_client)
    host = {"X-Forwarded-Host": "API.example:8443"}
    without_port = proof(key, "https://api.example/orders/7", "GET", ath=ath_of(bound))
    assert check(token=bound, scheme="DPoP", DPoP=without_port, **host).status_code == 401
    with_port = proof(key, "https://api.example:8443/orders/7", "GET", ath=ath_of(bound))
    assert check(token=bound, scheme="DPoP", DPoP=with_port, **host).status_code == 200
    # The scheme's own port is the URL without one (RFC 3986 §6.2.3).
    default = proof(key, "https://api.example/orders/7", "GET", ath=ath_of(bound))
    assert check(token=bound, scheme="DPoP", DPoP=default,
                 **{"X-Forwarded-Host": "api.example:443"}).status_code == 200  # fmt: skip


def test_a_request_described_twice_is_refused(rule, check, http, token):
    """A gateway sends one description and passes the client's headers through: a second one
    may be the client's choice of what the rules see."""
    rule("public", "--path", "/public", "--credential", "anonymous")
    assert check("/public/a").status_code == 200
    assert check("/public/a", **{"X-Forwarded-Uri": "/public/a"}).status_code == 400
    assert check("/public/a", **{"X-Forwarded-Method": "GET"}).status_code == 400
    assert check("/public/a", **{"X-Original-URL": "https://api.example/public/a"}
                 ).status_code == 400  # fmt: skip
    caddy = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/a",
             "X-Forwarded-Host": "api.example"}  # fmt: skip
    assert http.get("/gateway/check", headers=caddy).status_code == 200
    spoofed = {**caddy, "X-Original-URI": "/public/a"}
    assert http.get("/gateway/check", headers=spoofed).status_code == 400
    # Envoy appends the path; an X-Original-* or X-Forwarded-Uri beside it is the client's.
    assert http.get("/gateway/check/public/a").status_code == 200
    assert http.get("/gateway/check/public/a",
                    headers={"X-Original-URI": "/public/a"}).status_code == 400  # fmt: skip
    assert http.get("/gateway/check/", headers={"X-Forwarded-Uri": "/public/a"}).status_code == 400
    twice = [("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/public/a"),
             ("X-Forwarded-Uri", "/public/b")]  # fmt: skip
    assert http.get("/gateway/check", headers=twice).status_code == 400
    assert check("/public/a", **{"X-Forwarded-Host": "evil.test, api.example"}).status_code == 400


def test_the_forwarded_identity_token_verifies_for_the_upstream(rule, check, http, token):
    refused = rule.runner("gateway", "rules", "add", "any-host", "--forward-token")
    assert refused.exit_code != 0 and "forward_token" in refused.output  # aud from the client
    rule("orders", "--path", "/orders", "--scope", "orders:read", "--forward-token",
         "--host", "api.example")  # fmt: skip
    access_token, client = token
    answer = check(token=access_token)
    assert answer.status_code == 200
    published = http.get("/.well-known/jwks.json").data
    cache = JWKSCache("http://localhost:5000/.well-known/jwks.json",
                      fetch=lambda url, etag, timeout: (200, {}, published))  # fmt: skip
    claims = verify_access_token(answer.headers["X-Auth-Token"], jwks=cache,
                                 issuer="http://localhost:5000", audience="https://api.example",
                                 required_scopes=["orders:read"], now=clock.timestamp)  # fmt: skip
    assert claims["sub"] == client.client_id
    assert claims["gateway"] == {"rule": "orders", "credential": "jwt"}
    assert claims["exp"] - claims["iat"] <= 60
    # Never a credential here: not at the gateway, at introspection or at the admin API.
    forwarded = answer.headers["X-Auth-Token"]
    assert check(token=forwarded).status_code == 401
    inspected = http.post("/oauth/introspect", data={"token": forwarded}, headers=client.basic())
    assert inspected.get_json() == {"active": False}
    admin = http.get("/api/v1/gateway/rules", headers={"Authorization": f"Bearer {forwarded}"})
    assert admin.status_code == 401


def test_rate_limits_and_quotas_refuse_with_429_and_refill(rule, check, runner, make_client,
                                                            get_token):  # fmt: skip
    clock.freeze()
    now = clock.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    to_midnight = int((midnight - now).total_seconds() + 0.999)
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    client = make_client("orders:read")
    access_token = get_token(client)["access_token"]
    assert runner("gateway", "limits", client.client_id, "--quota", "2", "--quota-period",
                  "day").exit_code == 0  # fmt: skip
    first = check(token=access_token)
    assert first.status_code == 200
    assert first.headers["RateLimit"] == f'"quota";r=1;t={to_midnight}'
    assert first.headers["RateLimit-Policy"] == f'"quota";q=2;w={to_midnight}'
    assert check(token=access_token).status_code == 200
    spent = check(token=access_token)
    assert spent.status_code == 429 and spent.headers["Retry-After"] == str(to_midnight)
    clock.advance(to_midnight)  # midnight UTC: the quota is full again
    access_token = get_token(client)["access_token"]  # the first may have expired meanwhile
    assert check(token=access_token).status_code == 200
    assert runner("gateway", "limits", client.client_id, "--quota", "-1", "--rate-limit",
                  "2/minute").exit_code == 0  # fmt: skip
    assert [check(token=access_token).status_code for _ in range(3)] == [200, 200, 429]
    limited = check(token=access_token)
    assert int(limited.headers["Retry-After"]) > 0
    assert '"rate-limit";r=0' in limited.headers["RateLimit"]
    clock.advance(30)
    assert check(token=access_token).status_code == 200


def test_the_last_request_of_a_quota_goes_to_one_of_many(app, rule, runner, token):
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    access_token, client = token
    assert runner("gateway", "limits", client.client_id, "--quota", "3").exit_code == 0
    headers = {**NGINX, "X-Original-URI": "/orders/1", "Authorization": f"Bearer {access_token}"}

    def ask(_):
        with app.test_client() as each:
            return each.get("/gateway/check", headers=headers).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(16)))
    assert sorted(answers) == [200] * 3 + [429] * 13


def test_usage_is_counted_by_principal_and_outcome(app, rule, check, token):
    rule("orders", "--path", "/orders", "--scope", "orders:write")
    access_token, client = token
    for _ in range(3):
        assert check(token=access_token).status_code == 403
    rule("read", "--path", "/read", "--scope", "orders:read")
    assert check("/read", access_token).status_code == 200
    gateway_usage_of(app).flush()
    rows = db.session.execute(select(GatewayUsage.outcome, GatewayUsage.count).where(
        GatewayUsage.principal == f"client:{client.client_id}")).all()  # fmt: skip
    assert dict(rows) == {"denied_scope": 3, "allowed": 1}


def test_introspection_spends_the_same_limits_and_says_so(rule, check, http, runner, token):
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    access_token, client = token
    assert runner("gateway", "limits", client.client_id, "--quota", "2").exit_code == 0
    answer = http.post("/oauth/introspect", data={"token": access_token},
                       headers=client.basic()).get_json()  # fmt: skip
    assert answer["active"] is True
    assert answer["limit"] == {"quota": 2, "quota_remaining": 1}
    assert check(token=access_token).status_code == 200  # the gateway spends the same quota
    spent = http.post("/oauth/introspect", data={"token": access_token},
                      headers=client.basic()).get_json()  # fmt: skip
    assert spent == {"active": False, "limit": {"exceeded": "quota_exhausted", "retry_after": None}}


def test_denials_reach_the_audit_trail_once_an_hour_as_counts(app, rule, check, token):
    from authserver.models import AuditEvent
    from authserver.ops.scheduler import Scheduler

    clock.freeze()
    rule("orders", "--path", "/orders", "--scope", "orders:write")
    access_token, _ = token
    for _ in range(3):
        assert check(token=access_token).status_code == 403
    assert check("/nowhere", access_token).status_code == 403
    assert check().status_code == 401

    def digests():
        return list(db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "gateway:decisions:denied")))  # fmt: skip

    Scheduler(app).run_once()
    assert digests() == []  # the hour is not over
    clock.advance(3600)
    Scheduler(app).run_once()
    (digest,) = digests()
    assert digest.data["total"] == 5
    assert digest.data["denials"] == {"orders": {"denied_scope": 3, "no_credential": 1},
                                      "none": {"no_rule": 1}}  # fmt: skip
    Scheduler(app).run_once()
    assert len(digests()) == 1


def test_the_check_is_answered_in_front_of_flask_with_the_front_doors_headers(rule, http):
    rule("public", "--path", "/public", "--credential", "anonymous")
    answer = http.get("/gateway/check/public/a", headers={"X-Request-ID": "gw-check-1"})
    assert answer.status_code == 200 and answer.data == b""
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Request-ID"] == "gw-check-1"
    assert "Set-Cookie" not in answer.headers  # no browser session opened for a check
    assert http.head("/gateway/check/public/a").status_code == 200
    refused = http.open("/gateway/check/public/a", method="TRACE")
    assert refused.status_code == 405 and "GET" in refused.headers["Allow"]
    assert http.get("/gateway/checkout").status_code == 404  # not the check: Flask's 404
    metrics = http.get("/metrics").data.decode()
    assert 'endpoint="gateway.check"' in metrics


def test_the_dry_run_reads_the_path_as_the_decision_does():
    original, match = explain("GET", "https://API.example.:443//admin//users?x=1", [])
    assert (original.host, original.path, original.authority) == ("api.example", "/admin/users",
                                                                  "api.example")  # fmt: skip
    assert match.rule is None
    assert explain("GET", "//admin/users", [])[0].host == ""  # a bare path: any host
    for bad in ("https://api.example/a#/../b", "https://[::1/x", "/a/../b"):
        with pytest.raises(InvalidInput):
            explain("GET", bad, [])


def test_a_token_exchanged_for_a_key_spends_the_keys_limits(app, rule, check, http, runner,
                                                             make_client):  # fmt: skip
    """Exchanging an API key for a JWT (RFC 8693) must not escape the key's quota."""
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    owner = make_client("orders:read")
    exchanger = make_client("orders:read", "--grant-type",
                            "urn:ietf:params:oauth:grant-type:token-exchange")  # fmt: skip
    made = runner("apikeys", "create", "--client", owner.client_id, "--scope", "orders:read",
                  "--json")  # fmt: skip
    key = json.loads(made.stdout)
    assert runner("gateway", "limits", key["id"], "--quota", "2").exit_code == 0
    assert check(**{"X-API-Key": key["key"]}).status_code == 200
    exchanged = http.post("/oauth/token", headers=exchanger.basic(), data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": key["key"],
        "subject_token_type": "urn:authserver:params:oauth:token-type:api_key",
    }).get_json()["access_token"]  # fmt: skip
    assert check(token=exchanged).status_code == 200  # the key's second and last
    assert check(token=exchanged).status_code == 429
    assert check(**{"X-API-Key": key["key"]}).status_code == 429
    gateway_usage_of(app).flush()
    counted = db.session.execute(
        select(GatewayUsage.principal, GatewayUsage.outcome, GatewayUsage.count)
    ).all()
    assert {(p, o) for p, o, _ in counted} == {
        (f"apikey:{key['id']}", "allowed"),
        (f"apikey:{key['id']}", "quota_exhausted"),
    }
    # A key without limits leaves the token to its client's: the exchanging client's quota.
    free = json.loads(runner("apikeys", "create", "--client", owner.client_id, "--scope",
                             "orders:read", "--json").stdout)  # fmt: skip
    assert runner("gateway", "limits", exchanger.client_id, "--quota", "1").exit_code == 0
    token = http.post("/oauth/token", headers=exchanger.basic(), data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": free["key"],
        "subject_token_type": "urn:authserver:params:oauth:token-type:api_key",
    }).get_json()["access_token"]  # fmt: skip
    assert [check(token=token).status_code for _ in range(2)] == [200, 429]


def test_lookalike_paths_are_refused_and_plain_ones_kept(rule, check, http):
    rule("public", "--path", "/public", "--credential", "anonymous")
    rule("cafe", "--path", "/café", "--credential", "anonymous")
    rule("avatar", "--path", "/users/*/avatar", "--credential", "anonymous")
    for uri in ("/public/..;/admin", "/public/.;/admin", "/public/%2e%2e;x/admin",
                "/public/%252e%252e/admin", "/public/%C0%AE%C0%AE/admin",
                "/public/%0a"):  # fmt: skip
        assert check(uri).status_code == 400, uri
    for uri in ("/public/a;v=1", "/public/a%20b", "/public/~x+y", "/caf%C3%A9", "/public/%23"):
        assert check(uri).status_code == 200, uri
    # Envoy's path arrives decoded: the same answers, and a decoded "?" is part of the path.
    for path in ("public/..;/admin", "public/%252e%252e/admin", "public/a%0a"):
        assert http.get("/gateway/check/" + path).status_code == 400, path
    for path in ("public/a%20b", "caf%C3%A9", "public/a%23b"):
        assert http.get("/gateway/check/" + path).status_code == 200, path
    assert http.get("/gateway/check/users/1/avatar%3F/delete").status_code == 403


def test_ports_and_urls_that_name_no_request_are_refused(rule, check, http):
    rule("public", "--path", "/public", "--credential", "anonymous")
    for host in ("api.example:99999", "api.example:0", "api.example:\u00b2", "api.example:+1"):
        assert check("/public", **{"X-Forwarded-Host": host}).status_code == 400, host
    assert check("/public", **{"X-Forwarded-Host": "api.example:08443"}).status_code == 200
    for url in ("//evil/public", "ftp://api.example/public", "https:///public"):
        answer = http.get("/gateway/check", headers={"X-Original-URL": url,
                                                     "X-Original-Method": "GET"})  # fmt: skip
        assert answer.status_code == 400, url


def test_a_malformed_proof_is_a_401_not_a_500(rule, check, http, make_client):
    rule("orders", "--path", "/orders", "--scope", "orders:read")
    key, bound = bound_token(http, make_client)
    broken = proof(key, "http://[::1/orders/7", "GET", ath=ath_of(bound))
    assert check(token=bound, scheme="DPoP", DPoP=broken).status_code == 401
    client = make_client("orders:read")
    broken_at_token = proof(key, "http://[::1/x", "POST")
    at_token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers={**client.basic(), "DPoP": broken_at_token})  # fmt: skip
    assert at_token.status_code == 400
    assert at_token.get_json()["error"] == "invalid_dpop_proof"
