"""GET /metrics: token and JWKS counters, key-lifecycle gauges."""

from __future__ import annotations

import re

from authserver import clock


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
    runner("keys", "schedule", "--rotate-every", "100s", "--publish-ahead", "20s")
    clock.freeze()
    clock.advance(160)  # nothing ran the scheduler: the key is 60 s overdue
    text = http.get("/metrics").get_data(as_text=True)
    overdue = metric(text, "authserver_signing_key_retirement_overdue_seconds", alg="ES256")
    assert 59 <= overdue <= 61
    assert metric(text, "authserver_signing_key_next_transition_seconds", alg="ES256") > 0
