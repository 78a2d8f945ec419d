"""/api/v1/gateway: rules created, read, rewritten (If-Match), moved, removed and replaced as a
whole; the dry run; limits on keys and clients (no escalation); usage by period and the busiest
principals; bad input a 4xx naming the field."""

from __future__ import annotations

import json

from authserver.gateway.endpoint import gateway_usage_of
from tests.api.conftest import ADMIN

ORDERS = {"name": "orders", "path": "/orders", "scopes": ["orders:read"], "methods": ["GET"]}


def test_rules_round_trip_in_order(admin):
    created = admin("POST", "/gateway/rules", ORDERS)
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert rule["id"].startswith("gwr_") and rule["position"] == 1
    assert created.headers["Location"] == f"/api/v1/gateway/rules/{rule['id']}"
    first = admin(
        "POST",
        "/gateway/rules",
        {"name": "health", "path": "/health", "credentials": ["anonymous"], "position": 1},
    )
    assert first.status_code == 201 and first.get_json()["position"] == 1
    listed = admin("GET", "/gateway/rules").get_json()["items"]
    assert [r["name"] for r in listed] == ["health", "orders"]
    read = admin("GET", f"/gateway/rules/{rule['id']}")
    etag = read.headers["ETag"]
    stale = admin("PUT", f"/gateway/rules/{rule['id']}", {**ORDERS, "methods": ["POST"]},
                  headers={"If-Match": '"stale"'})  # fmt: skip
    assert stale.status_code == 412
    moved = admin("PUT", f"/gateway/rules/{rule['id']}", {**ORDERS, "position": 1},
                  headers={"If-Match": etag})  # fmt: skip
    assert moved.status_code == 200 and moved.get_json()["position"] == 1
    assert [r["name"] for r in admin("GET", "/gateway/rules").get_json()["items"]] == [
        "orders", "health"]  # fmt: skip
    assert admin("DELETE", f"/gateway/rules/{rule['id']}").status_code == 204
    assert admin("GET", f"/gateway/rules/{rule['id']}").status_code == 404
    assert admin("GET", "/gateway/rules").get_json()["items"][0]["position"] == 1


def test_the_whole_list_is_replaced_or_nothing_changes(admin):
    assert admin("POST", "/gateway/rules", ORDERS).status_code == 201
    body = {"rules": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b/**"}]}
    replaced = admin("PUT", "/gateway/rules", body)
    assert replaced.status_code == 200
    assert [r["name"] for r in replaced.get_json()["items"]] == ["a", "b"]
    twice = admin("PUT", "/gateway/rules", {"rules": [{"name": "a"}, {"name": "a"}]})
    assert twice.status_code == 422
    assert [r["name"] for r in admin("GET", "/gateway/rules").get_json()["items"]] == ["a", "b"]


def test_bad_rules_are_refused_naming_the_field(admin):
    for bad, field in [
        ({**ORDERS, "path": "orders"}, "path"),
        ({**ORDERS, "host": "exa mple"}, "host"),
        ({**ORDERS, "methods": ["FETCH"]}, "methods"),
        ({**ORDERS, "credentials": []}, "credentials"),
        ({**ORDERS, "credentials": ["anonymous"]}, "credentials"),
        ({**ORDERS, "surprise": 1}, "surprise"),
    ]:
        response = admin("POST", "/gateway/rules", bad)
        assert response.status_code in (400, 422), (bad, response.get_json())
        assert field in json.dumps(response.get_json()), (bad, response.get_json())
    assert admin("POST", "/gateway/rules", ORDERS).status_code == 201
    assert admin("POST", "/gateway/rules", ORDERS).status_code == 409  # the same name


def test_the_dry_run_says_which_rule_and_why_not_the_others(admin):
    admin("POST", "/gateway/rules", {"name": "write", "path": "/orders", "methods": ["POST"]})
    admin("POST", "/gateway/rules", {"name": "read", "path": "/orders", "host": "api.example"})
    run = admin(
        "POST",
        "/gateway/rules/dry-run",
        {"method": "GET", "url": "https://api.example/orders/7?x=1"},
    ).get_json()
    assert run["allowed_by_rule"]["name"] == "read" and run["path"] == "/orders/7"
    assert run["passed_over"] == [{"rule": "write", "reason": "method GET is not one of POST"}]
    none = admin(
        "POST", "/gateway/rules/dry-run", {"method": "GET", "url": "https://other.example/orders"}
    ).get_json()
    assert none["allowed_by_rule"] is None and len(none["passed_over"]) == 2
    dots = admin(
        "POST",
        "/gateway/rules/dry-run",
        {"method": "GET", "url": "https://api.example/a/../orders"},
    )
    assert dots.status_code == 422


def test_limits_of_keys_and_clients(admin, caller, make_client, runner):
    client = make_client("orders:read")
    put = admin(
        "PUT",
        f"/clients/{client.client_id}/limits",
        {"rate_limit": "10/second burst 20", "quota": 1000, "quota_period": "month"},
    )
    assert put.status_code == 200, put.get_json()
    limits = put.get_json()
    assert limits["rate_limit"] == "10/second burst 20" and limits["quota_remaining"] == 1000
    assert limits["quota_resets_at"].endswith(("-01T00:00:00Z", "-01T00:00:00+00:00"))
    assert admin("GET", f"/clients/{client.client_id}/limits").get_json() == limits
    bad = admin("PUT", f"/clients/{client.client_id}/limits", {"rate_limit": "often"})
    assert bad.status_code == 422 and "rate_limit" in json.dumps(bad.get_json())
    made = json.loads(runner("apikeys", "create", "--client", client.client_id, "--scope",
                             "orders:read", "--json").stdout)  # fmt: skip
    key = admin("PUT", f"/api-keys/{made['id']}/limits", {"quota": 5})
    assert key.status_code == 200 and key.get_json()["quota_period"] is None
    # A caller may not change the limits of a key whose owner holds more than it does.
    small = caller("apikeys:write apikeys:read")
    refused = small("PUT", f"/api-keys/{made['id']}/limits", {"quota": 500})
    assert refused.status_code == 403
    assert admin("GET", "/api-keys/ak_nothing/limits").status_code == 404


def test_usage_by_period_and_the_busiest(app, admin, runner, make_client, get_token, http):
    runner("gateway", "rules", "add", "orders", "--path", "/orders", "--scope", "orders:read")
    client = make_client("orders:read")
    token = get_token(client)["access_token"]
    headers = {"X-Original-Method": "GET", "X-Original-URI": "/orders/1",
               "Authorization": f"Bearer {token}"}  # fmt: skip
    for _ in range(4):
        assert http.get("/gateway/check", headers=headers).status_code == 200
    gateway_usage_of(app).flush()
    principal = f"client:{client.client_id}"
    usage = admin("GET", f"/gateway/usage?principal={principal}&granularity=hour").get_json()
    assert [p["counts"]["allowed"] for p in usage["points"]] == [4]
    daily = admin("GET", f"/gateway/usage?principal={principal}&granularity=day&days=30")
    assert [p["counts"]["allowed"] for p in daily.get_json()["points"]] == [4]
    top = admin("GET", "/gateway/usage/top").get_json()["items"]
    assert top[0] == {"principal": principal, "requests": 4, "allowed": 4}
    assert admin("GET", "/gateway/usage?principal=x&granularity=week").status_code == 422


def test_reading_and_writing_need_their_permissions(caller):
    reader = caller("gateway:read")
    assert reader("GET", "/gateway/rules").status_code == 200
    assert reader("POST", "/gateway/rules", ORDERS).status_code == 403
    assert caller("clients:read")("GET", "/gateway/rules").status_code == 403


def test_keys_unused_for_30_days_are_listed(caller, runner, make_client, http):
    from authserver.platform import clock

    client = make_client("orders:read")

    def key() -> str:
        made = runner("apikeys", "create", "--client", client.client_id, "--scope",
                      "orders:read", "--json")  # fmt: skip
        return json.loads(made.stdout)

    clock.freeze()
    idle, used = key(), key()
    clock.advance(31 * 86400)
    young = key()
    answer = http.post("/oauth/introspect", data={"token": used["key"]}, headers=client.basic())
    assert answer.get_json()["active"] is True  # a use
    admin = caller(ADMIN)  # a token of the moved clock
    listed = admin("GET", "/gateway/usage/unused-keys").get_json()["items"]
    assert [k["id"] for k in listed] == [idle["id"]]
    assert young["id"] not in {k["id"] for k in listed}


def test_the_dry_run_takes_a_bare_path_and_refuses_a_broken_url(admin):
    admin("POST", "/gateway/rules", {"name": "orders", "path": "/orders"})
    bare = admin("POST", "/gateway/rules/dry-run", {"method": "GET", "url": "/orders/7"})
    assert bare.get_json()["allowed_by_rule"]["name"] == "orders"
    assert bare.get_json()["host"] == ""
    broken = admin("POST", "/gateway/rules/dry-run", {"method": "GET", "url": "https://[::1/x"})
    assert broken.status_code == 422
