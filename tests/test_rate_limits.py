"""Budgets in-process (the served, concurrent and multi-instance behaviour is in
tests/e2e/test_budgets_served.py and tests/test_redis_outage.py).

Failed client authentications are counted after the credential is checked: a right one is never
refused, a wrong one over budget gets 429. Sign-ins are reserved before the password is
checked, per (account, IP) and per IP; the account-wide budget only slows; a browser that signed
in before has a budget of its own. Request budgets answer 429 with RateLimit fields, in each
endpoint's own format. Lockouts are audited once and counted."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from authserver.cli import cli
from authserver.models import AuditEvent, User
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD, init_app, make_app
from tests.test_metrics import metric

ATTACKER, OWNER, ELSEWHERE = "198.51.100.7", "203.0.113.10", "192.0.2.44"


@pytest.fixture
def strict(tmp_path):
    app = make_app(
        tmp_path,
        rate_limit_client_auth="3/minute",
        rate_limit_sign_in_account="3/15minutes",
        rate_limit_sign_in_ip="100/15minutes",
        sign_in_slowdown="off",
    )
    init_app(app)
    with app.app_context():
        yield app


def _client(app, name="svc", *extra):
    result = app.test_cli_runner().invoke(
        cli, ["clients", "create", "--name", name, "--json", *extra]
    )
    value = json.loads(result.stdout)
    return value["client_id"], value["client_secret"]


def _token(http, client_id, secret, ip="127.0.0.1"):
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        environ_base={"REMOTE_ADDR": ip},
    )


def _user(app, email="ada@example.com"):
    created = app.test_cli_runner().invoke(
        cli, ["users", "create", email, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output


def _sign_in(http, password, email="ada@example.com", ip="127.0.0.1"):
    page = http.get("/login", environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True)
    form = {"email": email, "password": password, "csrf_token": csrf_of(page)}
    return http.post("/login", data=form, environ_base={"REMOTE_ADDR": ip})


def _lockouts(budget: str) -> list[dict]:
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "ratelimit:lockout:started")
    )
    return [row.data for row in rows if row.data.get("budget") == budget]


def test_successes_are_not_counted(strict):
    http = strict.test_client()
    cid, secret = _client(strict)
    assert all(_token(http, cid, secret).status_code == 200 for _ in range(10))


def test_a_clients_right_secret_is_never_refused_for_failures(strict):
    http = strict.test_client()
    cid, secret = _client(strict)
    assert [_token(http, cid, "wrong").status_code for _ in range(4)] == [401, 401, 401, 429]
    blocked = _token(http, cid, "wrong")
    assert blocked.status_code == 429 and blocked.get_json()["error"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) > 0
    assert '"client-auth-client";r=0' in blocked.headers["RateLimit"]
    assert _token(http, cid, secret).status_code == 200  # the client itself still gets in
    # One budget for the client's failures at every endpoint.
    introspect = http.post("/oauth/introspect", data={"token": "x"}, auth=(cid, "wrong"))
    assert introspect.status_code == 429
    (lockout,) = _lockouts("client-auth-client")
    assert lockout["effect"] == "refused"


def test_a_legitimate_client_at_an_attackers_address_still_authenticates(strict):
    http = strict.test_client()
    sprayed = [_client(strict, f"c{i}") for i in range(3)]
    legit_id, legit_secret = _client(strict, "legit")
    for cid, _ in sprayed:
        assert _token(http, cid, "wrong", ATTACKER).status_code == 401
    assert _token(http, "unknown-client", "wrong", ATTACKER).status_code == 429  # the IP's
    assert _token(http, legit_id, legit_secret, ATTACKER).status_code == 200
    assert _token(http, legit_id, "wrong", ELSEWHERE).status_code == 401  # its own budget


def test_sign_in_is_refused_per_account_and_address_not_for_the_owner_elsewhere(strict):
    _user(strict)
    attacker, owner = strict.test_client(), strict.test_client()
    for _ in range(3):
        assert _sign_in(attacker, "not the password at all", ip=ATTACKER).status_code == 401
    blocked = _sign_in(attacker, PASSWORD, ip=ATTACKER)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
    assert '"sign-in-account-ip";r=0' in blocked.headers["RateLimit"]
    # The account's owner, from elsewhere, with the right password: signed in.
    assert _sign_in(owner, PASSWORD, ip=OWNER).status_code == 303
    assert attacker.get("/login").status_code == 200  # the page itself is not limited
    assert len(_lockouts("sign-in-account-ip")) == 1
    # The record names the account by subject, with the address sealed (erasable), never the
    # email typed; a lockout of an address of no account names its keyed hash.
    (lockout,) = db.session.scalars(select(AuditEvent).where(
        AuditEvent.event == "ratelimit:lockout:started"))  # fmt: skip
    ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
    assert lockout.actor == ada.actor and "sealed" in lockout.data and "ip" not in lockout.data
    for _ in range(4):
        _sign_in(attacker, "not the password at all", email="nobody@example.com", ip=ATTACKER)
    stored = [(e.actor, e.data) for e in db.session.scalars(select(AuditEvent))]
    assert "nobody@example.com" not in str(stored) and "ada@example.com" not in str(stored)


def test_failures_from_everywhere_slow_an_accounts_sign_ins_but_never_refuse_them(tmp_path):
    app = make_app(tmp_path, sign_in_slowdown="2/hour", sign_in_slowdown_max_seconds=8)
    init_app(app)
    with app.app_context():
        _user(app)
        waits = []
        app.extensions["authserver.rate_limits"].sleep = waits.append
        http = app.test_client()
        for n in range(5):  # a botnet: a different address each time
            assert _sign_in(http, "wrong password!", ip=f"198.51.100.{n}").status_code == 401
        assert waits == [1.0, 2.0, 4.0]  # beyond the budget of 2: 1 s, doubling
        owner = app.test_client()
        assert _sign_in(owner, PASSWORD, ip=OWNER).status_code == 303  # slowed, not refused
        assert waits[-1] == 8.0  # at most AUTHSERVER_SIGN_IN_SLOWDOWN_MAX
        (slowed,) = _lockouts("sign-in-account")
        assert slowed["effect"] == "slowed" and slowed.get("budget") == "sign-in-account"
        text = app.test_client().get("/metrics").get_data(as_text=True)
        assert metric(text, "authserver_lockouts_total", budget="sign-in-account",
                      effect="slowed") >= 1  # fmt: skip
        assert metric(text, "authserver_sign_ins_slowed_total") >= 4


def test_a_device_that_signed_in_before_is_not_locked_out_or_slowed(tmp_path):
    app = make_app(
        tmp_path,
        rate_limit_sign_in_account="3/15minutes",
        rate_limit_sign_in_ip="3/15minutes",
        sign_in_slowdown="1/hour",
    )
    init_app(app)
    with app.app_context():
        _user(app)
        _user(app, "bo@example.com")
        waits = []
        app.extensions["authserver.rate_limits"].sleep = waits.append
        owner = app.test_client()
        assert _sign_in(owner, PASSWORD, ip=OWNER).status_code == 303  # its device cookie
        assert owner.get_cookie("authserver_device") is not None
        owner.post("/logout", data={"csrf_token": csrf_of(owner.get("/account").get_data(
            as_text=True))})  # fmt: skip
        attacker = app.test_client()
        for _ in range(3):  # (ada, the attacker's address), the address, ada's slow-down
            assert _sign_in(attacker, "wrong password!", ip=ATTACKER).status_code == 401
        assert _sign_in(attacker, PASSWORD, ip=ATTACKER).status_code == 429
        assert waits  # ada's sign-ins from unknown devices are slowed now
        waits.clear()
        # The owner, even from the attacker's address (a shared NAT), with its cookie.
        assert _sign_in(owner, PASSWORD, ip=ATTACKER).status_code == 303
        assert waits == []
        # Its cookie says nothing about another account, and a forged one counts for nothing.
        assert _sign_in(owner, PASSWORD, "bo@example.com", ip=ATTACKER).status_code == 429
        forged = app.test_client()
        forged.set_cookie("authserver_device", "A" * 22 + "." + "B" * 22)
        assert _sign_in(forged, PASSWORD, ip=ATTACKER).status_code == 429


def test_the_device_cookie_is_signed_private_and_strict(app, http, user):
    assert _sign_in(http, PASSWORD).status_code == 303
    cookie = http.get_cookie("authserver_device")
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/"
    assert "ada" not in cookie.value and "." in cookie.value


def test_sign_in_failures_back_off_in_steps_by_default(tmp_path):
    app = make_app(tmp_path)  # the defaults: 5/minute;10/15minutes;20/hour;50/day
    init_app(app)
    with app.app_context():
        _user(app)
        http = app.test_client()
        assert [_sign_in(http, "wrong password!").status_code for _ in range(5)] == [401] * 5
        assert _sign_in(http, PASSWORD).status_code == 429  # the minute's budget is spent
        retry = int(_sign_in(http, PASSWORD).headers["Retry-After"])
        assert 0 < retry <= 12  # one attempt back every 12 s


def test_a_bad_rate_is_a_configuration_error():
    from authserver.platform.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="AUTHSERVER_RATE_LIMIT_CLIENT_AUTH"):
        load_settings({"AUTHSERVER_RATE_LIMIT_CLIENT_AUTH": "lots"})
    with pytest.raises(ConfigError, match="AUTHSERVER_RATE_LIMIT_PAR_IP"):
        load_settings({"AUTHSERVER_RATE_LIMIT_PAR_IP": "5/minute burst none"})
    with pytest.raises(ConfigError, match="AUTHSERVER_RATE_LIMIT_STORAGE"):
        load_settings({"AUTHSERVER_RATE_LIMIT_STORAGE": "memcached://x"})
    assert load_settings({"AUTHSERVER_RATE_LIMIT_PAR": "off"}).rate_limit_par == "off"


def test_failed_passkey_answers_and_options_are_limited_per_ip(tmp_path):
    clock.freeze()  # the refill times below are exact: no wall clock may pass
    app = make_app(
        tmp_path, rate_limit_sign_in_ip="3/15minutes", rate_limit_passkey_options_ip="4/minute"
    )
    init_app(app)
    with app.app_context():
        http = app.test_client()
        token = csrf_of(http.get("/login").get_data(as_text=True))

        def options():
            return http.post("/login/passkey/options", headers={"X-CSRFToken": token})

        def forged_passkey():
            answer = {"credential": '{"id": "unknown"}', "csrf_token": token}
            return http.post("/login/passkey", data=answer)

        for n in range(3):
            answered = options()
            assert answered.status_code == 200
            left, full_in = 3 - n, 15 * (n + 1)
            assert answered.headers["RateLimit"] == f'"passkey-options-ip";r={left};t={full_in}'
            assert forged_passkey().status_code == 401
        blocked = forged_passkey()
        assert blocked.status_code == 429 and 290 < int(blocked.headers["Retry-After"]) <= 301
        assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
        assert options().status_code == 200
        refused = options()
        assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_requests"
        assert refused.headers["Retry-After"] == "15"
        assert refused.headers["RateLimit-Policy"] == '"passkey-options-ip";q=4;w=60'


def test_device_authorization_per_ip_for_public_clients_and_per_client(tmp_path):
    clock.freeze()  # the refill times below are exact: no wall clock may pass
    app = make_app(
        tmp_path,
        rate_limit_device_authorization_ip="2/minute",
        rate_limit_device_authorization="3/minute",
    )
    init_app(app)
    with app.app_context():
        device = "urn:ietf:params:oauth:grant-type:device_code"
        tv, _ = _client(app, "tv", "--public", "--grant-type", device)
        box, box_secret = _client(app, "box", "--grant-type", device)
        http = app.test_client()

        def authorize(client_id, secret=None, ip="127.0.0.1"):
            return http.post(
                "/oauth/device_authorization",
                data={"client_id": client_id},
                auth=(client_id, secret) if secret else None,
                environ_base={"REMOTE_ADDR": ip},
            )

        first = authorize(tv)
        assert first.status_code == 200
        assert first.headers["RateLimit-Policy"] == (
            '"device-authorization-client";q=3;w=60, "device-authorization-ip";q=2;w=60'
        )
        assert authorize(tv).status_code == 200
        refused = authorize(tv)
        assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_requests"
        assert refused.headers["Retry-After"] == "30"
        assert '"device-authorization-ip";r=0;t=30' in refused.headers["RateLimit"]
        assert authorize(tv, ip=ELSEWHERE).status_code == 200  # another address; the client's 3rd
        assert authorize(tv, ip=OWNER).status_code == 429  # the client's budget is spent
        # A confidential client authenticates: no per-IP budget, its own per-client one.
        assert [authorize(box, box_secret).status_code for _ in range(4)] == [200] * 3 + [429]


def test_registration_per_initial_access_token_and_per_ip(tmp_path):
    app = make_app(
        tmp_path,
        dynamic_registration=True,
        rate_limit_registration="1/hour",
        rate_limit_registration_ip="2/hour",
    )
    init_app(app)
    with app.app_context():
        http = app.test_client()

        def register(token):
            return http.post("/oauth/register", json={"client_name": "x"},
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip

        assert register("token-a").status_code == 401
        again = register("token-a")
        assert again.status_code == 429 and again.get_json()["error"] == "too_many_requests"
        assert '"registration-token";r=0' in again.headers["RateLimit"]
        assert register("token-b").status_code == 401
        # A refused request spends nothing: the address has spent 2 (token-a once, token-b).
        assert register("token-c").status_code == 429


def test_failed_credentials_at_the_admin_api_answer_a_problem_when_over_budget(tmp_path):
    app = make_app(tmp_path, rate_limit_client_auth="2/minute")
    init_app(app)
    with app.app_context():
        http = app.test_client()
        bad = {"Authorization": "Bearer not-a-token"}
        assert [http.get("/api/v1/users", headers=bad).status_code for _ in range(2)] == [401] * 2
        refused = http.get("/api/v1/users", headers=bad)
        assert refused.status_code == 429
        assert refused.headers["Content-Type"] == "application/problem+json"
        problem = refused.get_json()
        assert problem["type"].endswith("#quota-exceeded") and problem["status"] == 429
        assert problem["violated-policies"] == ["api-auth-ip"]
        assert int(refused.headers["Retry-After"]) == 30


def test_a_clients_quotas_are_token_buckets_with_ratelimit_fields(strict):
    clock.freeze()  # the refill times below are exact: no wall clock may pass
    http = strict.test_client()
    cid, secret = _client(strict, "metered", "--token-quota", "2/minute",
                          "--introspection-quota", "1/minute")  # fmt: skip
    other_id, other_secret = _client(strict, "free")
    first, second = _token(http, cid, secret), _token(http, cid, secret)
    assert first.status_code == second.status_code == 200
    assert first.headers["RateLimit-Policy"] == '"token-quota";q=2;w=60'
    assert first.headers["RateLimit"] == '"token-quota";r=1;t=30'
    assert second.headers["RateLimit"] == '"token-quota";r=0;t=60'
    refused = _token(http, cid, secret)
    assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_requests"
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["RateLimit"] == '"token-quota";r=0;t=30'
    token = first.get_json()["access_token"]
    introspect = http.post("/oauth/introspect", data={"token": token}, auth=(cid, secret))
    assert introspect.status_code == 200 and introspect.get_json()["active"] is True
    assert http.post("/oauth/introspect", data={"token": token},
                     auth=(cid, secret)).status_code == 429  # fmt: skip
    # Another client pays nothing and says nothing about budgets.
    free = _token(http, other_id, other_secret)
    assert free.status_code == 200 and "RateLimit" not in free.headers


@pytest.mark.parametrize(
    ("address", "key"),
    [("203.0.113.7", "203.0.113.7"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
     ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"), ("::ffff:192.0.2.1", "192.0.2.1")],
)  # fmt: skip
def test_addresses_are_keyed_as_hosts_are_given_them(address, key):
    """An IPv6 host is routinely given a /64: one budget for it, not 2**64."""
    from werkzeug.test import EnvironBuilder

    from authserver.web.ratelimit import client_address

    request = EnvironBuilder(environ_base={"REMOTE_ADDR": address}).get_request()
    assert client_address(request) == key
