"""GET /metrics: token and JWKS counters, key-lifecycle gauges."""

from __future__ import annotations

import re

from authserver.platform import clock
from tests.conftest import _keys_made_now


def metric(text: str, name: str, **labels) -> float | None:
    label = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = (
        "^" + re.escape(name) + (r"\{" + re.escape(label) + r"\}" if label else "") + r" (\S+)"
    )
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_counters_and_key_gauges(http, make_client, get_token, runner):
    from tests.keys.conftest import kid_of

    client = make_client()
    before = http.get("/metrics").get_data(as_text=True)
    token = get_token(client)["access_token"]
    get_token(client)
    http.get("/.well-known/jwks.json")
    text = http.get("/metrics").get_data(as_text=True)
    kid = kid_of(token)
    signed_before = metric(before, "authserver_tokens_signed_total", alg="ES256", kid=kid) or 0
    assert metric(text, "authserver_tokens_signed_total", alg="ES256", kid=kid) == signed_before + 2
    assert metric(text, "authserver_jwks_requests_total") >= 1
    for alg in ("ES256", "RS256", "Ed25519"):
        assert metric(text, "authserver_signing_key_active_age_seconds", alg=alg) >= 0
        assert metric(text, "authserver_signing_key_retirement_overdue_seconds", alg=alg) == 0


def test_overdue_gauge_rises_when_a_key_signs_past_its_rotation(http, runner):
    # The keys count as made at the frozen moment (on a busy machine seconds pass between the
    # fixture's copy and this line).
    clock.freeze()
    _keys_made_now()
    runner("keys", "schedule", "--rotate-every", "100s", "--publish-ahead", "20s")
    clock.advance(160)  # nothing ran the scheduler: the key is 60 s overdue
    text = http.get("/metrics").get_data(as_text=True)
    overdue = metric(text, "authserver_signing_key_retirement_overdue_seconds", alg="ES256")
    assert 59 <= overdue <= 61
    assert metric(text, "authserver_signing_key_next_transition_seconds", alg="ES256") > 0


def test_requests_tokens_introspections_failures_and_expiring_keys_are_counted(
    http, make_client, get_token, runner, user
):
    from tests.accounts.conftest import csrf_of

    client = make_client("orders:read")
    before = http.get("/metrics").get_data(as_text=True)
    token = get_token(client)["access_token"]
    http.post("/oauth/introspect", data={"token": token}, headers=client.basic())
    http.post("/oauth/introspect", data={"token": "nonsense"}, headers=client.basic())
    page = http.get("/login").get_data(as_text=True)
    form = {"email": user, "password": "not the password at all", "csrf_token": csrf_of(page)}
    assert http.post("/login", data=form).status_code == 401
    owner = runner("roles", "grant", "admin", "--user", user)
    assert owner.exit_code == 0
    key = runner("apikeys", "create", "--user", user, "--scope", "users:read", "--expires-in",
                 "3d", "--json")  # fmt: skip
    assert key.exit_code == 0, key.output
    text = http.get("/metrics").get_data(as_text=True)

    def grew(name: str, **labels) -> float:
        return (metric(text, name, **labels) or 0) - (metric(before, name, **labels) or 0)

    assert grew("authserver_tokens_issued_total", grant_type="client_credentials") == 1
    assert grew("authserver_introspections_total", result="active") == 1
    assert grew("authserver_introspections_total", result="inactive") == 1
    assert grew("authserver_sign_in_failures_total", method="password") == 1
    assert grew("authserver_http_requests_total", endpoint="oauth.introspect", method="POST",
                status="200") == 2  # fmt: skip
    assert grew("authserver_http_request_duration_seconds_count", endpoint="oauth.token") == 1
    assert metric(text, "authserver_api_keys_expiring_soon") == 1


def test_refusals_with_429_are_counted(tmp_path):
    from tests.conftest import init_app, make_app

    app = make_app(tmp_path, rate_limit_client_auth="1/minute")
    init_app(app)
    with app.app_context():
        http = app.test_client()

        def refused() -> float:  # the counter is per process: other tests may have added to it
            text = http.get("/metrics").get_data(as_text=True)
            return metric(text, "authserver_rate_limited_total", endpoint="oauth.token") or 0.0

        before = refused()
        for _ in range(3):
            http.post("/oauth/token", data={"grant_type": "client_credentials"},
                      auth=("nobody", "wrong"))  # fmt: skip
        assert refused() - before == 2
