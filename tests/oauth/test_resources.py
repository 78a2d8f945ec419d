"""Resource indicators (RFC 8707): the resource names the token's audience; only registered
resources; invalid_target otherwise; per-resource algorithm and lifetime; a token for one
resource is not accepted by another (the admin API, UserInfo)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jws, jwt
from werkzeug.datastructures import MultiDict

from authserver.platform.config import ConfigError, load_settings
from authserver.rbac.permissions import Permission
from tests.conftest import init_app, make_app
from tests.oauth.test_code_flow import REDIRECT, Browser, jwks

ORDERS = "https://orders.example/api"
BILLING = "https://billing.example"


@pytest.fixture
def service(make_client):
    everything = " ".join(p.value for p in Permission)
    return make_client(everything, "--resource", ORDERS, "--resource", BILLING)


def token(http, client, **form):
    return http.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                     headers=client.basic())  # fmt: skip


def test_the_resource_becomes_the_audience(http, service):
    body = token(http, service, resource=ORDERS).get_json()
    claims = jwt.decode(body["access_token"], jwks(http)).claims
    assert claims["aud"] == ORDERS
    form = MultiDict([("grant_type", "client_credentials"), ("resource", ORDERS),
                      ("resource", BILLING)])  # fmt: skip
    both = http.post("/oauth/token", data=form, headers=service.basic()).get_json()
    assert jwt.decode(both["access_token"], jwks(http)).claims["aud"] == [ORDERS, BILLING]
    plain = token(http, service).get_json()
    assert jwt.decode(plain["access_token"], jwks(http)).claims["aud"] == "http://localhost:5000"


@pytest.mark.parametrize("resource", ["https://elsewhere.example", "https://orders.example/api#x",
                                      "orders"])  # fmt: skip
def test_an_unregistered_or_malformed_resource_is_invalid_target(http, service, resource):
    response = token(http, service, resource=resource)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_a_token_for_a_resource_is_not_a_token_for_the_admin_api(http, service):
    scoped = token(http, service, resource=ORDERS).get_json()["access_token"]
    refused = http.get("/api/v1/users", headers={"Authorization": f"Bearer {scoped}"})
    assert refused.status_code == 401 and "another audience" in refused.get_json()["detail"]
    default = token(http, service).get_json()["access_token"]
    allowed = http.get("/api/v1/users", headers={"Authorization": f"Bearer {default}"})
    assert allowed.status_code == 200


def test_a_resource_may_have_its_own_algorithm_and_lifetime(tmp_path):
    from authserver.cli import cli

    policies = json.dumps({ORDERS: {"alg": "RS256", "ttl": "2m"}})
    app = make_app(tmp_path, resource_policies=policies)
    init_app(app)
    with app.app_context():
        created = app.test_cli_runner().invoke(cli, ["clients", "create", "--name", "svc",
                                                     "--resource", ORDERS, "--json"])  # fmt: skip
        client = json.loads(created.stdout)
        http = app.test_client()
        form = {"grant_type": "client_credentials", "resource": ORDERS}
        auth = (client["client_id"], client["client_secret"])
        body = http.post("/oauth/token", data=form, auth=auth).get_json()
        assert body["expires_in"] == 120
        assert jws.extract_compact(body["access_token"].encode()).headers()["alg"] == "RS256"
        claims = jwt.decode(body["access_token"], jwks(http)).claims
        assert claims["exp"] - claims["iat"] == 120 and claims["aud"] == ORDERS


def test_bad_policies_stop_the_server():
    with pytest.raises(ConfigError, match="AUTHSERVER_RESOURCE_POLICIES"):
        load_settings({"AUTHSERVER_RESOURCE_POLICIES": '{"https://x.example": {"alg": "HS256"}}'})
    with pytest.raises(ConfigError, match="AUTHSERVER_RESOURCE_POLICIES"):
        load_settings({"AUTHSERVER_RESOURCE_POLICIES": "not json"})


@pytest.fixture
def shop(runner, user):
    result = runner("clients", "create", "--name", "Shop", "--grant-type",
                    "authorization_code refresh_token", "--redirect-uri", REDIRECT, "--scope",
                    "openid offline_access", "--resource", ORDERS, "--resource", BILLING,
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_code_flow_carries_the_resource_to_tokens_and_refreshes(http, shop):
    browser = Browser(http, shop)
    callback = browser.code(scope="openid offline_access", resource=ORDERS)
    narrowed_away = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier, "resource": BILLING,
    }, auth=(shop["client_id"], shop["client_secret"]))  # fmt: skip
    assert narrowed_away.get_json()["error"] in ("invalid_target", "invalid_grant")
    callback = browser.code(scope="openid offline_access", resource=ORDERS)
    body = browser.exchange(callback["code"]).get_json()
    assert jwt.decode(body["access_token"], jwks(http)).claims["aud"] == ORDERS
    refreshed = http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                "refresh_token": body["refresh_token"]},
                          auth=(shop["client_id"], shop["client_secret"])).get_json()  # fmt: skip
    assert jwt.decode(refreshed["access_token"], jwks(http)).claims["aud"] == ORDERS


def test_an_unregistered_resource_at_authorization_goes_back_as_invalid_target(http, shop):
    browser = Browser(http, shop)
    response = http.get(browser.authorize_url(scope="openid", resource="https://evil.example"))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_target"] and query["state"] == ["st4te"]
