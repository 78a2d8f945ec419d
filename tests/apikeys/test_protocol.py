"""API keys at the protocol endpoints: introspection (RFC 7662), revocation (RFC 7009) and
token exchange (RFC 8693) for a short-lived JWT, with its resource and audience (RFC 8693 §2.1,
RFC 8707) as at every other grant."""

from __future__ import annotations

import json

import pytest
from joserfc import jwk, jws, jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from authserver.cli import cli
from authserver.models import ApiKey, KeyState, SigningKey
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.conftest import init_app, make_app

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
API_KEY_TYPE = "urn:authserver:params:oauth:token-type:api_key"


@pytest.fixture
def api(make_client):
    """A resource server that may introspect anything."""
    return make_client("", "--role", "resource-server")


@pytest.fixture
def exchanger(make_client):
    return make_client("orders:read orders:write", "--grant-type", EXCHANGE)


@pytest.fixture
def key(owner_client, make_key):
    return make_key("--client", owner_client.client_id, "--scope", "orders:read orders:write")


def introspect(http, caller, token, **extra):
    return http.post(
        "/oauth/introspect", data={"token": token, **extra}, headers=caller.basic()
    ).get_json()


def exchange(http, caller, subject_token, **extra):
    form = {
        "grant_type": EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": API_KEY_TYPE,
        **extra,
    }
    return http.post("/oauth/token", data=form, headers=caller.basic())


@pytest.mark.parametrize("hint", [None, "api_key", "access_token"])
def test_introspection_of_an_api_key(http, api, key, owner_client, hint):
    extra = {"token_type_hint": hint} if hint else {}
    body = introspect(http, api, key["key"], **extra)
    assert body["active"] is True
    assert body["token_type"] == "api_key"
    assert body["scope"] == "orders:read orders:write"
    assert body["sub"] == owner_client.client_id
    assert body["client_id"] == owner_client.client_id
    assert body["key_id"] == key["id"]
    assert body["exp"] > clock.timestamp()


def test_the_owner_may_introspect_its_own_key_and_others_may_not(
    http, key, owner_client, make_client
):
    assert introspect(http, owner_client, key["key"])["active"] is True
    assert introspect(http, make_client(), key["key"]) == {"active": False}


def test_bad_keys_introspect_inactive_without_a_hint(http, api, key, runner):
    good = key["key"]
    bad = [
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        "ask_" + "A" * 16 + "_" + "B" * 50,
        good.replace("ask_", "xyz_"),
        "ask_nonsense",
    ]
    for token in bad:
        assert introspect(http, api, token) == {"active": False}
    runner("apikeys", "revoke", key["id"])
    assert introspect(http, api, good) == {"active": False}


def test_expired_key_introspects_inactive(http, api, owner_client, make_key):
    clock.freeze()
    short = make_key(
        "--client", owner_client.client_id, "--scope", "orders:read", "--expires-in", "60s"
    )
    clock.advance(60)
    assert introspect(http, api, short["key"]) == {"active": False}


def test_use_is_recorded_at_most_once_a_minute(http, api, key):
    clock.freeze()
    introspect(http, api, key["key"])
    db.session.expire_all()
    first = db.session.scalar(select(ApiKey.last_used_at))
    assert first == clock.now()
    clock.advance(30)
    introspect(http, api, key["key"])
    db.session.expire_all()
    assert db.session.scalar(select(ApiKey.last_used_at)) == first
    clock.advance(31)
    introspect(http, api, key["key"])
    db.session.expire_all()
    assert db.session.scalar(select(ApiKey.last_used_at)) == clock.now()
    assert db.session.scalar(select(ApiKey.last_used_ip)) == "127.0.0.1"


def test_the_owner_client_revokes_its_key_at_the_revocation_endpoint(
    http, api, key, owner_client, make_client
):
    other = make_client()
    refused = http.post("/oauth/revoke", data={"token": key["key"]}, headers=other.basic())
    assert refused.status_code == 400
    assert introspect(http, api, key["key"])["active"] is True
    done = http.post("/oauth/revoke", data={"token": key["key"]}, headers=owner_client.basic())
    assert done.status_code == 200
    assert introspect(http, api, key["key"]) == {"active": False}


def test_exchange_gives_a_jwt_with_the_keys_scopes(http, exchanger, key, owner_client):
    response = exchange(http, exchanger, key["key"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "orders:read orders:write"
    active = db.session.scalar(
        select(SigningKey).where(SigningKey.alg == "ES256", SigningKey.state == KeyState.ACTIVE)
    )
    claims = jwt.decode(body["access_token"], jwk.import_key(active.public_jwk)).claims
    assert claims["sub"] == owner_client.client_id
    assert claims["client_id"] == exchanger.client_id
    assert claims["exp"] - claims["iat"] == 600


def test_an_exchanged_token_dies_with_its_key(http, api, exchanger, key, runner):
    token = exchange(http, exchanger, key["key"]).get_json()["access_token"]
    answer = introspect(http, api, token)
    assert answer["active"] is True
    assert runner("apikeys", "revoke", key["id"]).exit_code == 0
    assert introspect(http, api, token) == {"active": False}


def test_an_exchanged_token_ends_when_its_key_does(http, exchanger, owner_client, make_key):
    key = make_key("--client", owner_client.client_id, "--scope", "orders:read",
                   "--expires-in", "2m")  # fmt: skip
    issued = exchange(http, exchanger, key["key"]).get_json()
    assert 115 <= issued["expires_in"] <= 120  # not the usual 600 s
    claims = jwt.decode(issued["access_token"], KeySet.import_key_set(
        http.get("/.well-known/jwks.json").get_json())).claims  # fmt: skip
    assert claims["exp"] - claims["iat"] == issued["expires_in"]


def test_exchange_narrows_but_never_widens(http, exchanger, key):
    narrowed = exchange(http, exchanger, key["key"], scope="orders:read")
    assert narrowed.get_json()["scope"] == "orders:read"
    widened = exchange(http, exchanger, key["key"], scope="orders:read orders:admin")
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_scope"


def test_bad_subject_tokens_are_invalid_grant_alike(http, exchanger, key, runner):
    good = key["key"]
    answers = []
    for token in [good[:-1] + ("A" if good[-1] != "A" else "B"), "ask_x", "nonsense"]:
        answers.append(exchange(http, exchanger, token).get_json())
    runner("apikeys", "revoke", key["id"])
    answers.append(exchange(http, exchanger, good).get_json())
    assert all(a == answers[0] for a in answers)
    assert answers[0]["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "extra, error",
    [
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "unsupported_token_type"),
        ({"subject_token_type": ""}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": API_KEY_TYPE}, "invalid_request"),
        # RFC 6749 §3.3 scope-tokens; these were quoted in a description Authlib refused (500).
        ({"scope": 'orders:read"'}, "invalid_scope"),
        ({"scope": "orders:read\\"}, "invalid_scope"),
        ({"scope": "orders:réad"}, "invalid_scope"),
        ({"scope": "orders:read\x01"}, "invalid_scope"),
    ],
)
def test_exchange_request_errors(http, exchanger, key, extra, error):
    response = exchange(http, exchanger, key["key"], **extra)
    assert response.status_code == 400
    assert response.get_json()["error"] == error


def test_a_client_not_registered_for_exchange_is_refused(http, make_client, key):
    plain = make_client("orders:read")
    response = exchange(http, plain, key["key"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_ip_allow_list_applies_to_exchange(http, exchanger, owner_client, make_key):
    outside = make_key(
        "--client", owner_client.client_id, "--scope", "orders:read", "--allow-ip", "10.0.0.0/8"
    )
    inside = make_key(
        "--client",
        owner_client.client_id,
        "--scope",
        "orders:read",
        "--allow-ip",
        "127.0.0.0/8 10.0.0.0/8",
    )
    assert exchange(http, exchanger, outside["key"]).get_json()["error"] == "invalid_grant"
    assert exchange(http, exchanger, inside["key"]).status_code == 200


ORDERS = "https://orders.example/api"
BILLING = "https://billing.example"


@pytest.fixture
def targeted(make_client):
    """An exchanging client registered for two resources."""
    return make_client("orders:read orders:write", "--grant-type", EXCHANGE,
                       "--resource", ORDERS, "--resource", BILLING)  # fmt: skip


def audience_of(http, response) -> str | list[str]:
    assert response.status_code == 200, response.get_json()
    keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    return jwt.decode(response.get_json()["access_token"], keys).claims["aud"]


def exchange_form(subject_token, *pairs) -> MultiDict:
    return MultiDict([("grant_type", EXCHANGE), ("subject_token", subject_token),
                      ("subject_token_type", API_KEY_TYPE), *pairs])  # fmt: skip


def test_exchange_honours_resource_as_the_token_endpoint_does(http, targeted, key):
    assert audience_of(http, exchange(http, targeted, key["key"], resource=ORDERS)) == ORDERS
    both = exchange_form(key["key"], ("resource", ORDERS), ("resource", BILLING))
    response = http.post("/oauth/token", data=both, headers=targeted.basic())
    assert audience_of(http, response) == [ORDERS, BILLING]
    # Without resource or audience: the default audience, as before.
    assert audience_of(http, exchange(http, targeted, key["key"])) == "http://localhost:5000"


@pytest.mark.parametrize("name", ["resource", "audience"])
@pytest.mark.parametrize("value", ["https://elsewhere.example", ORDERS + "#x", "orders",
                                   "http://localhost:5000"])  # fmt: skip
def test_exchange_for_a_target_the_client_may_not_name_is_invalid_target(
    http, targeted, exchanger, key, name, value
):
    # RFC 8707 §2, RFC 8693 §2.2.2: invalid_target, and no token.
    response = exchange(http, targeted, key["key"], **{name: value})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"
    # A client registered for no resource may name none.
    plain = exchange(http, exchanger, key["key"], **{name: ORDERS})
    assert plain.status_code == 400 and plain.get_json()["error"] == "invalid_target"


def test_an_audience_naming_a_registered_resource_counts_as_that_resource(http, targeted, key):
    assert audience_of(http, exchange(http, targeted, key["key"], audience=BILLING)) == BILLING
    # RFC 8693 §2.1: several audiences, and resource and audience together, name several targets.
    mixed = exchange_form(key["key"], ("resource", ORDERS), ("audience", BILLING),
                          ("audience", ORDERS))  # fmt: skip
    response = http.post("/oauth/token", data=mixed, headers=targeted.basic())
    assert audience_of(http, response) == [ORDERS, BILLING]
    bad = exchange_form(key["key"], ("audience", BILLING), ("audience", "billing"))
    refused = http.post("/oauth/token", data=bad, headers=targeted.basic())
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"


def test_exchange_for_a_resource_gets_its_algorithm_and_lifetime(tmp_path):
    policies = json.dumps({ORDERS: {"alg": "RS256", "ttl": "2m"}})
    app = make_app(tmp_path, resource_policies=policies)
    init_app(app)
    with app.app_context():
        runner = app.test_cli_runner()

        def run(*args) -> dict:
            done = runner.invoke(cli, [*args, "--json"])
            assert done.exit_code == 0, done.output
            return json.loads(done.stdout)

        run("roles", "create", "orders", "--scope", "orders:read")
        owner = run("clients", "create", "--name", "owner", "--scope", "orders:read",
                    "--role", "orders")  # fmt: skip
        api_key = run("apikeys", "create", "--client", owner["client_id"], "--scope",
                      "orders:read")["key"]  # fmt: skip
        svc = run("clients", "create", "--name", "svc", "--scope", "orders:read",
                  "--grant-type", EXCHANGE, "--resource", ORDERS)  # fmt: skip
        http = app.test_client()
        body = http.post("/oauth/token", data=exchange_form(api_key, ("resource", ORDERS)),
                         auth=(svc["client_id"], svc["client_secret"])).get_json()  # fmt: skip
        assert body["expires_in"] == 120, body
        assert jws.extract_compact(body["access_token"].encode()).headers()["alg"] == "RS256"
        keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
        claims = jwt.decode(body["access_token"], keys).claims
        assert claims["aud"] == ORDERS and claims["exp"] - claims["iat"] == 120


def test_discovery_documents_the_api_key_token_type(http):
    meta = http.get("/.well-known/oauth-authorization-server").get_json()
    assert EXCHANGE in meta["grant_types_supported"]
    assert meta["token_exchange_subject_token_types_supported"] == [API_KEY_TYPE]
    assert json.dumps(meta).count("api_key") >= 1


def test_a_key_grants_only_what_its_owner_holds_now_everywhere(http, api, runner, make_client):
    """The key keeps its stored scopes, but introspection, exchange and the admin API all see
    them narrowed by the owner's roles at the moment of use (one function: usable_scope)."""
    assert runner("roles", "create", "readers", "--scope", "orders:read users:read").exit_code == 0
    assert runner("roles", "create", "writers", "--scope", "orders:write").exit_code == 0
    owner = make_client("orders:read orders:write users:read", permitted=False)
    for role in ("readers", "writers"):
        assert runner("roles", "grant", role, "--client", owner.client_id).exit_code == 0
    created = runner("apikeys", "create", "--client", owner.client_id, "--json",
                     "--scope", "orders:read orders:write users:read")  # fmt: skip
    key = json.loads(created.stdout)["key"]
    exchanger = make_client("orders:read orders:write users:read", "--grant-type", EXCHANGE)
    assert introspect(http, api, key)["scope"] == "orders:read orders:write users:read"
    users = http.get("/api/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert users.status_code == 200
    assert runner("roles", "revoke", "writers", "--client", owner.client_id).exit_code == 0
    assert runner("roles", "revoke", "readers", "--client", owner.client_id).exit_code == 0
    assert runner("roles", "grant", "writers", "--client", owner.client_id).exit_code == 0
    assert introspect(http, api, key)["scope"] == "orders:write"
    exchanged = exchange(http, exchanger, key)
    assert exchanged.status_code == 200 and exchanged.get_json()["scope"] == "orders:write"
    refused = http.get("/api/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403
