"""private_key_jwt assertions (RFC 7523 §3, RFC 7521 §5.2): an ``exp`` at most
AUTHSERVER_CLIENT_ASSERTION_MAX_LIFETIME (+ the clock skew) ahead, an ``iat`` that is there and
not in the future, and each ``jti`` remembered until its ``exp``, however long that is, so a
replay is refused for as long as the assertion would verify."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from authserver.cli import cli
from authserver.platform import clock
from authserver.platform.config import ConfigError, load_settings
from tests.conftest import init_app, make_app

TOKEN_URL = "http://localhost:5000/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _client(app, tmp_path) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256")
    path = tmp_path / "client-jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False) | {"kid": key.thumbprint()}]}))
    created = app.test_cli_runner().invoke(cli, [
        "clients", "create", "--name", "signer", "--auth-method", "private_key_jwt",
        "--jwks", str(path), "--json"])  # fmt: skip
    assert created.exit_code == 0, created.output
    return json.loads(created.stdout)["client_id"], key


def _assertion(client_id: str, key: ECKey, jti: str, **claims) -> str:
    now = clock.timestamp()
    body = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "jti": jti, "iat": now,
            "exp": now + 60, **claims}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode({"alg": "ES256", "kid": key.thumbprint()}, body, key)


def _token(http, assertion: str):
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}  # fmt: skip
    return http.post("/oauth/token", data=form)


@pytest.fixture
def signer(app, tmp_path):
    clock.freeze()
    return _client(app, tmp_path)


def _refused(response) -> bool:
    return response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_an_exp_ten_years_ahead_is_refused(http, signer):
    client_id, key = signer
    decade = clock.timestamp() + 10 * 365 * 86400
    assert _refused(_token(http, _assertion(client_id, key, "far", exp=decade)))


def test_exp_may_lie_the_maximum_lifetime_and_the_skew_ahead_and_no_more(http, signer):
    client_id, key = signer
    now = clock.timestamp()
    assert _refused(_token(http, _assertion(client_id, key, "over", exp=now + 300 + 60 + 1)))
    limit = _token(http, _assertion(client_id, key, "at-limit", exp=now + 300 + 60))
    assert limit.status_code == 200, limit.get_json()


def test_an_assertion_without_iat_is_refused(http, signer):
    client_id, key = signer
    assert _refused(_token(http, _assertion(client_id, key, "no-iat", iat=None)))


def test_an_iat_in_the_future_beyond_the_skew_is_refused(http, signer):
    client_id, key = signer
    now = clock.timestamp()
    assert _refused(_token(http, _assertion(client_id, key, "future", iat=now + 61, exp=now + 120)))
    within = _token(http, _assertion(client_id, key, "skewed", iat=now + 30, exp=now + 120))
    assert within.status_code == 200, within.get_json()


def test_an_expired_assertion_is_refused_on_the_servers_clock(http, signer):
    client_id, key = signer
    assertion = _assertion(client_id, key, "late", exp=clock.timestamp() + 60)
    clock.advance(60 + 60)  # exp plus the skew
    assert _refused(_token(http, assertion))


def test_a_jti_is_remembered_until_its_exp_even_past_an_hour(tmp_path):
    app = make_app(tmp_path, client_assertion_max_lifetime_seconds=3 * 3600)
    init_app(app)
    with app.app_context():
        clock.freeze()
        client_id, key = _client(app, tmp_path)
        http = app.test_client()
        start, lifetime = clock.timestamp(), 3 * 3600
        assertion = _assertion(client_id, key, "long-lived", exp=start + lifetime)
        assert _token(http, assertion).status_code == 200
        assert _refused(_token(http, assertion))
        clock.advance(2 * 3600)  # well past the hour a jti used to be remembered for
        assert _refused(_token(http, assertion))
        clock.advance(3600 - 60)  # a minute before its exp
        assert _refused(_token(http, assertion))
        # The same claims under another jti still pass: what refuses the replay is the jti.
        twin = _assertion(client_id, key, "twin", iat=start, exp=start + lifetime)
        assert _token(http, twin).status_code == 200


def test_the_maximum_lifetime_is_a_setting():
    assert load_settings({}).client_assertion_max_lifetime_seconds == 300
    variable = "AUTHSERVER_CLIENT_ASSERTION_MAX_LIFETIME"
    assert load_settings({variable: "10m"}).client_assertion_max_lifetime_seconds == 600
    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: "0"})
