"""Brute-force limits: failed client authentications and failed sign-ins are counted per
client id / account and per IP; over the limit the endpoint answers 429 with Retry-After in its
own format, even to the right secret. Successes are never counted."""

from __future__ import annotations

import json

import pytest

from authserver.cli import cli
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD, init_app, make_app


@pytest.fixture
def strict(tmp_path):
    app = make_app(
        tmp_path,
        rate_limit_client_auth="3/minute",
        rate_limit_sign_in_account="3/15minutes",
        rate_limit_sign_in_ip="100/15minutes",
    )
    init_app(app)
    with app.app_context():
        yield app


def _client(app, name="svc"):
    result = app.test_cli_runner().invoke(cli, ["clients", "create", "--name", name, "--json"])
    value = json.loads(result.stdout)
    return value["client_id"], value["client_secret"]


def _token(http, client_id, secret):
    return http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def test_successes_are_not_counted(strict):
    http = strict.test_client()
    cid, secret = _client(strict)
    assert all(_token(http, cid, secret).status_code == 200 for _ in range(10))


def test_failed_client_authentication_is_limited_per_client(strict):
    http = strict.test_client()
    cid, secret = _client(strict)
    for _ in range(3):
        assert _token(http, cid, "wrong").status_code == 401
    blocked = _token(http, cid, secret)
    assert blocked.status_code == 429
    assert blocked.get_json()["error"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) > 0
    introspect = http.post("/oauth/introspect", data={"token": "x"}, auth=(cid, secret))
    assert introspect.status_code == 200  # its own budget: no failures there yet


def test_failed_client_authentication_is_limited_per_ip(strict):
    http = strict.test_client()
    clients = [_client(strict, f"c{i}") for i in range(4)]
    for cid, _ in clients[:3]:
        assert _token(http, cid, "wrong").status_code == 401
    cid, secret = clients[3]
    assert _token(http, cid, secret).status_code == 429


def test_failed_sign_ins_are_limited_per_account(strict, runner):
    assert runner("users", "create", "ada@example.com", "--password-stdin",
                  input=PASSWORD + "\n").exit_code == 0  # fmt: skip
    http = strict.test_client()

    def sign_in(password: str):
        page = http.get("/login").get_data(as_text=True)
        form = {"email": "ada@example.com", "password": password, "csrf_token": csrf_of(page)}
        return http.post("/login", data=form)

    for _ in range(3):
        assert sign_in("not the password at all").status_code == 401
    blocked = sign_in(PASSWORD)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
    assert http.get("/login").status_code == 200  # the page itself is not limited


def test_a_bad_rate_is_a_configuration_error(tmp_path):
    from authserver.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="AUTHSERVER_RATE_LIMIT_CLIENT_AUTH"):
        load_settings({"AUTHSERVER_RATE_LIMIT_CLIENT_AUTH": "lots"})


def test_failed_passkey_answers_are_limited_per_ip(tmp_path):
    app = make_app(tmp_path, rate_limit_sign_in_ip="3/15minutes")
    init_app(app)
    with app.app_context():
        http = app.test_client()
        token = csrf_of(http.get("/login").get_data(as_text=True))

        def options():
            return http.post("/login/passkey/options", headers={"X-CSRFToken": token})

        def forged_passkey():
            answer = {"credential": '{"id": "unknown"}', "csrf_token": token}
            return http.post("/login/passkey", data=answer)

        for _ in range(3):
            assert options().status_code == 200
            assert forged_passkey().status_code == 401
        blocked = forged_passkey()
        assert blocked.status_code == 429 and 800 < int(blocked.headers["Retry-After"]) <= 901
        assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
        # Each options call stores a challenge: anonymous callers have a budget per IP too.
        refused = options()
        assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_requests"


def test_sign_in_failures_back_off_in_steps_by_default(tmp_path):
    app = make_app(tmp_path)  # the defaults: 5/minute;10/15minutes;20/hour;50/day per account
    init_app(app)
    with app.app_context():
        created = app.test_cli_runner().invoke(
            cli, ["users", "create", "ada@example.com", "--password-stdin"], input=PASSWORD + "\n"
        )
        assert created.exit_code == 0
        http = app.test_client()

        def sign_in(password: str):
            page = http.get("/login").get_data(as_text=True)
            form = {"email": "ada@example.com", "password": password, "csrf_token": csrf_of(page)}
            return http.post("/login", data=form)

        assert [sign_in("wrong password!").status_code for _ in range(5)] == [401] * 5
        assert sign_in(PASSWORD).status_code == 429  # the minute's budget is spent
        retry = int(sign_in(PASSWORD).headers["Retry-After"])
        assert 0 < retry <= 61
