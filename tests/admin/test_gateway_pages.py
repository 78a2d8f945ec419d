"""/admin/gateway and /admin/gateway/usage through the Flask test client: rules added, edited and
deleted in order, the dry run and its reasons, bad input as a form error (never a 500), CSRF,
who may look and who may change, the usage page's busiest principals, chart and table, the keys
nobody used, and the limits of a key (on its usage page) and of a client (on its page)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from authserver.models import ApiKey, AuditEvent, Client, GatewayRule
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.usage import add_gateway_count, roll_up_gateway_usage
from tests.admin.conftest import form_of, make_person, sign_in_with_code


def _rule(**overrides) -> dict:
    fields = {"name": "orders", "host": "api.example.com", "path": "/orders",
              "methods": "GET POST", "credentials": ["jwt", "api_key"], "scopes": "orders:read",
              "scope_match": "all", "enabled": "y"}  # fmt: skip
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def _add(http, **overrides):
    token = form_of(http, "/admin/gateway")
    return http.post("/admin/gateway", data={"csrf_token": token, **_rule(**overrides)})


def _rules() -> list[GatewayRule]:
    db.session.expire_all()
    return list(db.session.scalars(select(GatewayRule).order_by(GatewayRule.position)))


def _key(runner, email: str, name: str = "ci") -> ApiKey:
    made = runner("apikeys", "create", "--user", email, "--scope", "keys:read", "--name", name,
                  "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    return db.session.scalar(select(ApiKey).where(ApiKey.key_id == json.loads(made.stdout)["id"]))


def test_rules_are_added_listed_in_order_edited_and_deleted(as_admin):
    empty = as_admin.get("/admin/gateway")
    assert empty.status_code == 200 and "No rules: every request is denied." in empty.get_data(
        as_text=True
    )
    assert _add(as_admin).status_code == 303
    added = _add(as_admin, name="public", host="", path="/public/**", methods="",
                 credentials=["anonymous"], scopes="", position="1")  # fmt: skip
    assert added.status_code == 303
    assert [(r.name, r.position) for r in _rules()] == [("public", 1), ("orders", 2)]
    orders = _rules()[1]
    assert orders.methods == ["GET", "POST"] and orders.credentials == ["jwt", "api_key"]
    page = as_admin.get("/admin/gateway").get_data(as_text=True)
    assert page.index(">public</a>") < page.index(">orders</a>")
    assert "<code>api.example.com</code>" in page and "GET POST" in page
    assert "all of: <code>orders:read</code>" in page
    # The methods are ticked, not typed: the rule's own are checked on its page.
    edit = as_admin.get(f"/admin/gateway/rules/{orders.rule_id}").get_data(as_text=True)
    assert 'value="GET" checked' in edit and 'value="POST" checked' in edit
    assert 'value="DELETE" >' in edit

    path = f"/admin/gateway/rules/{orders.rule_id}"
    edit = as_admin.get(path).get_data(as_text=True)
    assert 'value="/orders"' in edit and 'value="api_key" checked' in edit
    token = form_of(as_admin, path)
    saved = as_admin.post(path, data={"csrf_token": token, **_rule(
        path="/orders/v2", methods="DELETE", position="1", enabled=None)})  # fmt: skip
    assert saved.status_code == 303
    first = _rules()[0]
    assert (first.name, first.path, first.methods, first.enabled) == (
        "orders", "/orders/v2", ["DELETE"], False)  # fmt: skip

    token = form_of(as_admin, path + "/delete")
    assert "Delete gateway rule orders?" in as_admin.get(path + "/delete").get_data(as_text=True)
    assert as_admin.post(path + "/delete", data={"csrf_token": token}).status_code == 303
    assert [(r.name, r.position) for r in _rules()] == [("public", 1)]
    assert as_admin.get(path).status_code == 404
    events = {e.event for e in db.session.scalars(select(AuditEvent))}
    assert {"gateway:rule:created", "gateway:rule:updated", "gateway:rule:deleted"} <= events


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "Name"),
        ({"host": "bad host!"}, "host:"),
        ({"path": "orders"}, "path:"),
        ({"methods": "FETCH"}, "not an HTTP method: FETCH"),
        ({"credentials": []}, "credentials:"),
        ({"credentials": ["password"]}, "Credentials accepted"),
        ({"credentials": ["anonymous"]}, "anonymous rule cannot require scopes"),
        ({"position": "first"}, "Position"),
        ({"position": "0"}, "Position"),
        ({"scope_match": "most"}, "Scopes needed"),
    ],
)
def test_a_bad_rule_is_a_form_error_and_adds_nothing(as_admin, overrides, message):
    refused = _add(as_admin, **overrides)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and message in text, text[-2000:]
    assert 'role="alert"' in text and _rules() == []


def test_a_duplicate_name_or_a_bad_edit_changes_nothing(as_admin):
    assert _add(as_admin).status_code == 303
    twice = _add(as_admin)
    assert twice.status_code == 400 and "named orders already" in twice.get_data(as_text=True)
    rule = _rules()[0]
    path = f"/admin/gateway/rules/{rule.rule_id}"
    token = form_of(as_admin, path)
    bad = as_admin.post(path, data={"csrf_token": token, **_rule(path="/a b")})
    assert bad.status_code == 400 and "path:" in bad.get_data(as_text=True)
    assert _rules()[0].path == "/orders"
    assert as_admin.get("/admin/gateway/rules/gwr_nothing").status_code == 404


def test_changes_without_csrf_are_refused(as_admin):
    assert as_admin.post("/admin/gateway", data=_rule()).status_code == 400
    assert _add(as_admin).status_code == 303
    rule = _rules()[0]
    for path in (
        f"/admin/gateway/rules/{rule.rule_id}",
        f"/admin/gateway/rules/{rule.rule_id}/delete",
    ):
        assert as_admin.post(path, data=_rule(path="/x")).status_code == 400, path
    assert [(r.name, r.path) for r in _rules()] == [("orders", "/orders")]


def test_the_dry_run_names_the_matching_rule_and_why_earlier_ones_were_skipped(as_admin):
    _add(as_admin, name="other-host", host="admin.example.com", path="/")
    _add(as_admin, name="reports", path="/reports")
    _add(as_admin, name="orders-read", methods="GET")
    _add(as_admin, name="orders-write", methods="POST PUT", scopes="orders:write")
    _add(as_admin, name="off", path="/", host="", methods="", enabled=None)
    page = as_admin.get("/admin/gateway?method=POST&url=https://api.example.com/orders/7")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "skipped <strong>other-host</strong>: host api.example.com is not admin.example.com" in (
        text
    )
    assert "skipped <strong>reports</strong>: path /orders/7 does not match /reports" in text
    assert "skipped <strong>orders-read</strong>: method POST is not one of GET" in text
    assert re.search(r"Matches <a [^>]+>orders-write</a></strong> \(position 4\)", text)
    assert "all of the scopes orders:write" in text and "Disabled rules are not tried: off" in text
    assert 'id="dry-url" name="url" value="https://api.example.com/orders/7"' in text

    none = as_admin.get("/admin/gateway?method=DELETE&url=api.example.com/orders")
    text = none.get_data(as_text=True)
    assert none.status_code == 200 and "No rule matches: denied." in text
    assert "method DELETE is not one of POST, PUT" in text
    dotted = as_admin.get("/admin/gateway?method=GET&url=https://api.example.com/a/../orders")
    assert dotted.status_code == 200 and "Denied before any rule is tried" in dotted.get_data(
        as_text=True
    )
    bare = as_admin.get("/admin/gateway?method=GET&url=/orders/7")  # a path: any host
    assert bare.status_code == 200 and 'id="dry-error"' not in bare.get_data(as_text=True)
    for query in ("method=GET&url=", "method=FETCH&url=https://api.example.com/",
                  "method=GET&url=https://[::1/x"):  # fmt: skip
        refused = as_admin.get("/admin/gateway?" + query)
        assert refused.status_code == 400, query
        assert 'id="dry-error"' in refused.get_data(as_text=True), query


def test_a_reader_sees_the_rules_but_cannot_change_them(app, http, runner, as_admin):
    assert _add(as_admin).status_code == 303
    rule = _rules()[0]
    assert runner("roles", "create", "gw-readers", "--scope", "gateway:read").exit_code == 0
    reader = make_person(app, runner, "reader@example.com", "gw-readers")
    http.post("/logout", data={"csrf_token": form_of(http, "/admin/gateway")})
    sign_in_with_code(http, reader, next_url="/admin/gateway")
    page = http.get("/admin/gateway")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and ">orders</a>" in text
    assert "Add a rule" not in text and "/delete" not in text
    assert (
        http.get("/admin/gateway?method=GET&url=https://api.example.com/orders").status_code == 200
    )
    assert http.get("/admin/gateway/usage").status_code == 200
    token = form_of(http, f"/admin/gateway/rules/{rule.rule_id}")
    assert (
        http.post("/admin/gateway", data={"csrf_token": token, **_rule(name="x")}).status_code
        == 403
    )
    edited = http.post(f"/admin/gateway/rules/{rule.rule_id}",
                       data={"csrf_token": token, **_rule(path="/x")})  # fmt: skip
    assert edited.status_code == 403
    assert http.get(f"/admin/gateway/rules/{rule.rule_id}/delete").status_code == 403
    deleted = http.post(f"/admin/gateway/rules/{rule.rule_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 403
    assert [(r.name, r.path) for r in _rules()] == [("orders", "/orders")]


def test_without_gateway_read_the_pages_are_403(app, http, runner):
    person = make_person(app, runner, "ada@example.com", "user")
    sign_in_with_code(http, person, next_url="/account")
    for path in ("/admin/gateway", "/admin/gateway/usage", "/admin/gateway/rules/x"):
        assert http.get(path).status_code == 403, path


def test_the_nav_names_the_gateway(as_admin):
    page = as_admin.get("/admin/gateway/usage")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<a href="/admin/gateway" aria-current="page">Gateway</a>' in text
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def _svgs(text: str) -> list[str]:
    return re.findall(r'<svg class="bars".*?</svg>', text, re.DOTALL)


def test_usage_shows_the_busiest_principals_and_a_chart_per_period(
    app, runner, as_admin, admin_user, make_client
):
    key = _key(runner, admin_user.email, name="billing-ci")
    client = make_client()
    clock.freeze()
    now = clock.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    by_key = f"apikey:{key.key_id}"
    for when, principal, outcome, n in [
        (hour, by_key, "allowed", 5),
        (hour, by_key, "invalid", 2),
        (hour - dt.timedelta(hours=3), by_key, "rate_limited", 1),
        (hour - dt.timedelta(days=5), by_key, "allowed", 4),
        (hour - dt.timedelta(hours=1), f"client:{client.client_id}", "allowed", 20),
        (hour - dt.timedelta(days=40), f"client:{client.client_id}", "allowed", 99),
    ]:
        add_gateway_count(when, (principal, outcome), n)
    roll_up_gateway_usage(now)  # the older hours become days, as the scheduler does
    db.session.commit()

    page = as_admin.get("/admin/gateway/usage")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    day, month = re.findall(r"<caption>The last (?:24 hours|30 days)</caption>(.*?)</table>", text,
                            re.DOTALL)  # fmt: skip
    rows = re.findall(r'principal=([^"]+)">([^<]+)</a>.*?"Requests">([\d,]+)<.*?"Allowed">'
                      r"([\d,]+)<", day, re.DOTALL)  # fmt: skip
    assert [(r[2], r[3]) for r in rows] == [("20", "20"), ("8", "5")]
    assert "API key billing-ci of root@example.com" in day and "client client-" in day
    assert re.findall(r'"Requests">([\d,]+)<', month) == ["20", "12"]  # 40 days ago: not in it

    shown = as_admin.get(f"/admin/gateway/usage?principal={by_key}")
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200
    hourly, daily = _svgs(text)
    assert hourly.count('class="bar-group"') == 24 and daily.count('class="bar-group"') == 30
    assert 'role="img"' in hourly and f'aria-label="Requests of {by_key} per hour' in hourly
    assert '<title id="usage-hourly-title">' in hourly
    assert 'aria-describedby="usage-hourly-table"' in hourly and 'id="usage-hourly-table"' in text
    assert f"{hour:%Y-%m-%d %H}:00 UTC: 7 requests (5 allowed, 2 invalid)" in hourly
    assert daily.count('class="seg seg-allowed"') == 2  # today and five days ago
    # The table beside the chart has the same numbers: allowed, denied_scope, rate_limited,
    # quota_exhausted, invalid, total.
    row = f'<th scope="row">{hour:%Y-%m-%d %H}:00 UTC</th>' + "".join(
        f"<td>{n}</td>" for n in (5, 0, 0, 0, 2, 7)
    )
    assert row in text
    day_row = f'<th scope="row">{hour - dt.timedelta(days=5):%Y-%m-%d}</th>' + "".join(
        f"<td>{n}</td>" for n in (4, 0, 0, 0, 0, 4)
    )
    assert day_row in text
    assert "<script" not in text


@pytest.mark.parametrize("principal", ["key_1", "user:x", "apikey:", "apikey:a b", "x" * 400])
def test_a_bad_principal_is_a_400_page(as_admin, principal):
    refused = as_admin.get("/admin/gateway/usage", query_string={"principal": principal})
    assert refused.status_code == 400 and 'id="principal-error"' in refused.get_data(as_text=True)


def test_an_unknown_principal_has_an_empty_chart_and_no_limits(as_admin):
    page = as_admin.get("/admin/gateway/usage?principal=apikey:gone")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "no API key or client by this id exists now" in text
    assert len(_svgs(text)) == 2 and "Save limits" not in text
    token = form_of(as_admin, "/admin/gateway/usage")
    assert as_admin.post("/admin/gateway/usage?principal=apikey:gone",
                         data={"csrf_token": token}).status_code == 404  # fmt: skip


def test_keys_nobody_used_in_30_days_are_listed(runner, as_admin, admin_user):
    clock.freeze()
    now = clock.now()
    old, used_long_ago, used_lately, young, revoked, expired = (
        _key(runner, admin_user.email, name=name)
        for name in ("old", "long-ago", "lately", "young", "revoked", "expired")
    )
    for key in (old, used_long_ago, used_lately, revoked, expired):
        key.created_at = now - dt.timedelta(days=45)
    used_long_ago.last_used_at = now - dt.timedelta(days=31)
    used_lately.last_used_at = now - dt.timedelta(days=2)
    revoked.revoked_at = now - dt.timedelta(days=1)
    expired.expires_at = now - dt.timedelta(days=1)
    db.session.commit()
    page = as_admin.get("/admin/gateway/usage").get_data(as_text=True)
    table = page.split("API keys not used in 30 days", 1)[1]
    listed = re.findall(r'<td data-label="Name">([^<]*)</td>', table)
    assert sorted(listed) == ["long-ago", "old"]
    assert re.search(r'data-label="Last used">never<', table)


def test_an_api_keys_limits_are_set_on_its_usage_page(app, http, runner, as_admin, admin_user):
    key = _key(runner, admin_user.email)
    path = f"/admin/gateway/usage?principal=apikey:{key.key_id}"
    listing = as_admin.get("/admin/apikeys").get_data(as_text=True)
    assert f"principal=apikey%3A{key.key_id}#limits" in listing
    token = form_of(as_admin, path)
    saved = as_admin.post(path, data={"csrf_token": token, "rate_limit": "10/second burst 20",
                                      "quota": "1000", "quota_period": "day"})  # fmt: skip
    assert saved.status_code == 303 and saved.headers["Location"] == path.replace(":", "%3A")
    db.session.expire_all()
    key = db.session.get(ApiKey, key.id)
    assert (key.rate_limit, key.quota_limit, key.quota_remaining, key.quota_period) == (
        "10/second burst 20", 1000, 1000, "day")  # fmt: skip
    text = as_admin.get(path).get_data(as_text=True)
    assert "<code>10/second burst 20</code>" in text and "1,000 of 1,000 requests left" in text
    assert "each day at 00:00 UTC" in text and f"{key.quota_resets_at:%Y-%m-%d %H:%M} UTC" in text
    listing = as_admin.get("/admin/apikeys").get_data(as_text=True)
    assert "10/second burst 20; quota 1,000 of 1,000 a day left" in listing
    for form, message in [
        ({"rate_limit": "fast"}, "rate_limit:"),
        ({"quota": "lots"}, "Quota (requests)"),
        ({"quota": "-1"}, "Quota (requests)"),
        ({"quota": str(10**13)}, "quota: 0 to"),
        ({"quota_period": "day"}, "only with a quota"),
        ({"quota": "5", "quota_period": "week"}, "Refilled"),
    ]:
        refused = as_admin.post(path, data={"csrf_token": token, **form})
        text = refused.get_data(as_text=True)
        assert refused.status_code == 400 and message in text, (form, text[-1500:])
        assert 'id="limits-error"' in text
    assert as_admin.post(path, data={"rate_limit": "1/second"}).status_code == 400  # no CSRF
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).rate_limit == "10/second burst 20"

    # gateway:read without apikeys:write: the limits are shown, not the form, and a post is 403.
    assert runner("roles", "create", "gw-readers", "--scope", "gateway:read").exit_code == 0
    reader = make_person(app, runner, "reader@example.com", "gw-readers")
    http.post("/logout", data={"csrf_token": form_of(http, "/admin/gateway")})
    sign_in_with_code(http, reader, next_url="/admin/gateway")
    text = http.get(path).get_data(as_text=True)
    assert "1,000 of 1,000 requests left" in text and "Save limits" not in text
    token = form_of(http, path)
    assert http.post(path, data={"csrf_token": token, "rate_limit": ""}).status_code == 403


def test_a_clients_limits_are_on_its_page(as_admin, make_client):
    registered = make_client(permitted=False)
    path = f"/admin/clients/{registered.client_id}"
    page = as_admin.get(path).get_data(as_text=True)
    assert "Gateway limits" in page and "Save limits" in page
    assert f"principal=client%3A{registered.client_id}" in page
    token = form_of(as_admin, path)
    saved = as_admin.post(path + "/limits", data={"csrf_token": token, "quota": "50",
                                                  "quota_period": "month"})  # fmt: skip
    assert saved.status_code == 303 and saved.headers["Location"] == path
    db.session.expire_all()
    client = db.session.scalar(select(Client).where(Client.client_id == registered.client_id))
    assert (client.quota_limit, client.quota_period, client.rate_limit) == (50, "month", None)
    page = as_admin.get(path).get_data(as_text=True)
    assert "50 of 50 requests left" in page and "on the 1st of each month" in page
    refused = as_admin.post(path + "/limits", data={"csrf_token": token, "rate_limit": "x/y"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "rate_limit:" in text and 'id="limits-error"' in text
    assert 'value="Billing' not in text and f"<code>{registered.client_id}</code>" in text
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Client).where(
        Client.quota_limit == 50)) == 1  # fmt: skip


def test_limits_of_a_client_holding_more_than_the_admin_are_refused(as_admin, make_client):
    """No escalation: the administrator holds no api:write, the client does."""
    registered = make_client()
    path = f"/admin/clients/{registered.client_id}"
    token = form_of(as_admin, path)
    refused = as_admin.post(path + "/limits", data={"csrf_token": token, "quota": "1"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 403 and "needs permissions you do not hold" in text
    assert 'id="limits-error"' in text
    db.session.expire_all()
    client = db.session.scalar(select(Client).where(Client.client_id == registered.client_id))
    assert client.quota_limit is None
    events = [e.event for e in db.session.scalars(select(AuditEvent))]
    assert "rbac:escalation:refused" in events
