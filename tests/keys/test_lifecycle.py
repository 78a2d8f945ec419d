"""The key lifecycle end to end in one process, with a movable clock instead of waiting."""

from __future__ import annotations

import json

from sqlalchemy import select

from authserver.keys.lifecycle import revoke_key, rotate_now, run_due_transitions
from authserver.models import SigningKey
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from tests.keys.conftest import kid_of


def rotate_if_due(runner) -> list[dict]:
    result = runner("keys", "rotate", "--if-due", "--alg", "ES256", "--json")
    assert result.exit_code == 0, result.output
    current_runtime().keyring.invalidate()
    return json.loads(result.stdout)


def introspect(http, client, token) -> dict:
    return http.post("/oauth/introspect", data={"token": token}, headers=client.basic()).get_json()


def test_scheduled_rotation_publishes_ahead_retires_and_expires(
    app, http, runner, make_client, get_token, keys_of, published, short_schedule
):
    client = make_client()
    clock.freeze()
    [first] = keys_of()
    old_token = get_token(client)["access_token"]
    assert kid_of(old_token) == first

    clock.advance(78)
    assert rotate_if_due(runner) == []

    # publish_ahead before the rotation date: a pending key, published, not signing
    clock.advance(3)
    [created] = rotate_if_due(runner)
    assert created["action"] == "create_pending"
    second = created["kid"]
    assert keys_of() == {first: "active", second: "pending"}
    assert second in published()
    assert kid_of(get_token(client)["access_token"]) == first

    # after the rotation date and a full publish_ahead: the pending key signs
    clock.advance(21)
    assert [p["action"] for p in rotate_if_due(runner)] == ["retire", "activate"]
    assert keys_of() == {first: "retired", second: "active"}
    assert kid_of(get_token(client)["access_token"]) == second
    assert {first, second} <= published()
    # the retired key still verifies what it signed
    assert introspect(http, client, old_token)["active"] is True


def test_a_retired_key_stays_published_until_it_expires(
    app, runner, keys_of, published, short_schedule
):
    clock.freeze()
    [first] = keys_of()
    clock.advance(81)
    rotate_if_due(runner)
    clock.advance(21)
    rotate_if_due(runner)  # first is retired now, at T+102
    assert keys_of()[first] == "retired"
    assert first in published()

    # retire_after (700 s) later the old key expires: out of JWKS, private half erased,
    # public half kept (an old id_token_hint must still verify at logout).
    clock.advance(699)
    rotate_if_due(runner)
    assert keys_of()[first] == "retired"
    clock.advance(1)
    actions = [p["action"] for p in rotate_if_due(runner)]
    assert "expire" in actions
    assert keys_of()[first] == "expired"
    assert first not in published()
    row = db.session.scalar(select(SigningKey).where(SigningKey.kid == first))
    assert row.private_key_ciphertext is None and row.kek_id is None
    assert row.public_jwk["kid"] == first


def test_tokens_of_the_retired_key_verify_during_retire_after(
    app, http, runner, make_client, get_token, keys_of, short_schedule
):
    client = make_client()
    clock.freeze()
    [first] = keys_of()
    clock.advance(81)
    rotate_if_due(runner)
    clock.advance(18)
    token = get_token(client)["access_token"]  # signed by `first`, 1 s before it retires
    assert kid_of(token) == first
    clock.advance(3)
    rotate_if_due(runner)
    assert keys_of()[first] == "retired"
    assert introspect(http, client, token)["active"] is True
    clock.advance(596)  # T+698: one second before the token's exp
    assert introspect(http, client, token)["active"] is True
    clock.advance(1)
    assert introspect(http, client, token) == {"active": False}  # exp reached


def test_rotate_if_due_is_idempotent(app, runner, keys_of, short_schedule):
    clock.freeze()
    clock.advance(81)
    assert len(rotate_if_due(runner)) == 1
    assert rotate_if_due(runner) == []
    assert rotate_if_due(runner) == []
    assert sorted(keys_of().values()) == ["active", "pending"]


def test_manual_rotation_publishes_ahead_then_activates(app, runner, keys_of, short_schedule):
    clock.freeze()
    [first] = keys_of()
    result = runner("keys", "rotate", "--alg", "ES256", "--json")
    assert result.exit_code == 0, result.output
    [created] = json.loads(result.stdout)
    assert keys_of() == {first: "active", created["kid"]: "pending"}
    again = runner("keys", "rotate", "--alg", "ES256")
    assert again.exit_code == 1 and "already pending" in again.output
    clock.advance(19)
    assert rotate_if_due(runner) == []
    clock.advance(1)
    assert [p["action"] for p in rotate_if_due(runner)] == ["retire", "activate"]
    assert keys_of() == {first: "retired", created["kid"]: "active"}


def test_rotate_now_publishes_first_and_signs_once_every_process_has_it(
    app, runner, http, make_client, get_token, keys_of, published
):
    """An emergency rotation skips publish-ahead, never propagation: the new key is in JWKS
    for the key-propagation interval (every worker re-reads its keys within it) before it
    signs, so no worker signs with a key another worker's JWKS lacks."""
    client = make_client()
    clock.freeze()
    [first] = keys_of()
    settings = current_runtime().settings
    performed = rotate_now(settings, current_runtime().envelope(), "ES256", immediately=True)
    db.session.commit()
    [second] = [p.kid for p in performed]
    assert keys_of() == {first: "active", second: "pending"}
    assert second in published()
    assert kid_of(get_token(client)["access_token"]) == first
    clock.advance(settings.emergency_publish_seconds - 1)
    assert rotate_if_due(runner) == []
    clock.advance(1)
    assert [p["action"] for p in rotate_if_due(runner)] == ["retire", "activate"]
    assert kid_of(get_token(client)["access_token"]) == second


def test_the_cli_rotate_now_waits_until_the_key_is_published_then_activates(
    app, runner, make_client, get_token, keys_of
):
    client = make_client()
    clock.freeze()  # the CLI's wait moves the frozen clock instead of sleeping
    started = clock.now()
    [first] = keys_of()
    result = runner("keys", "rotate", "--now", "--alg", "ES256", "--json")
    assert result.exit_code == 0, result.output
    actions = [p["action"] for p in json.loads(result.stdout)]
    assert actions == ["create_pending", "retire", "activate"]
    waited = (clock.now() - started).total_seconds()
    assert waited == current_runtime().settings.emergency_publish_seconds
    current_runtime().keyring.invalidate()
    states = keys_of()
    [second] = [kid for kid, state in states.items() if state == "active"]
    assert states[first] == "retired"
    assert kid_of(get_token(client)["access_token"]) == second


def test_revoking_the_active_key_replaces_it_within_seconds(
    app, http, runner, make_client, get_token, keys_of, published, caplog
):
    client = make_client()
    clock.freeze()
    [first] = keys_of()
    token = get_token(client)["access_token"]
    result = runner("keys", "revoke", first, "--reason", "laptop stolen", "--json")
    assert result.exit_code == 0, result.output
    current_runtime().keyring.invalidate()
    states = keys_of()
    assert states[first] == "revoked"
    [replacement] = [kid for kid, state in states.items() if state == "active"]
    assert first not in published() and replacement in published()
    assert introspect(http, client, token) == {"active": False}
    assert kid_of(get_token(client)["access_token"]) == replacement
    row = db.session.scalar(select(SigningKey).where(SigningKey.kid == first))
    assert row.private_key_ciphertext is None and row.revoked_reason == "laptop stolen"
    loud = [r for r in caplog.records if r.name == "authserver.audit" and "revoked" in r.message]
    assert loud and loud[0].levelname == "CRITICAL"


def test_while_a_revoked_keys_replacement_is_published_tokens_are_a_503(
    app, http, make_client, keys_of, published
):
    client = make_client()
    clock.freeze()
    [first] = keys_of()
    runtime = current_runtime()
    performed = revoke_key(runtime.settings, runtime.envelope(), first, reason="test")
    db.session.commit()
    runtime.keyring.invalidate()
    [replacement] = [p.kid for p in performed if p.action == "create_pending"]
    assert replacement in published() and first not in published()
    waiting = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=client.basic())  # fmt: skip
    assert waiting.status_code == 503 and waiting.get_json()["error"] == "temporarily_unavailable"
    assert waiting.headers["Retry-After"] == str(runtime.settings.emergency_publish_seconds)
    assert http.get("/readyz").status_code == 503
    clock.advance(runtime.settings.emergency_publish_seconds)
    assert [p.action for p in run_due_transitions(runtime.settings, runtime.envelope())] == [
        "activate"
    ]
    db.session.commit()
    runtime.keyring.invalidate()
    issued = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=client.basic())  # fmt: skip
    assert issued.status_code == 200 and kid_of(issued.get_json()["access_token"]) == replacement


def test_revoking_with_a_pending_key_activates_the_pending_one(app, runner, keys_of):
    clock.freeze()
    [first] = keys_of()
    [pending] = json.loads(runner("keys", "rotate", "--alg", "ES256", "--json").stdout)
    assert runner("keys", "revoke", first).exit_code == 0
    assert keys_of() == {first: "revoked", pending["kid"]: "active"}


def test_revoking_a_pending_key_leaves_the_active_one(app, runner, keys_of):
    [first] = keys_of()
    [pending] = json.loads(runner("keys", "rotate", "--alg", "ES256", "--json").stdout)
    assert runner("keys", "revoke", pending["kid"]).exit_code == 0
    assert keys_of() == {first: "active", pending["kid"]: "revoked"}


def test_revoke_errors(app, runner, keys_of):
    clock.freeze()  # revoking the active key waits for its successor to be published: on this clock
    unknown = runner("keys", "revoke", "no-such-kid")
    assert unknown.exit_code == 1 and "no signing key" in unknown.output
    [first] = keys_of()
    runner("keys", "revoke", first)
    twice = runner("keys", "revoke", first)
    assert twice.exit_code == 1 and "already revoked" in twice.output


def test_keys_list_shows_planned_transitions(app, runner, short_schedule):
    keys = json.loads(runner("keys", "list", "--json").stdout)
    es = next(k for k in keys if k["alg"] == "ES256")
    assert set(es["planned"]) == {"publish_successor", "retire", "expire"}
    assert es["planned"]["publish_successor"] < es["planned"]["retire"] < es["planned"]["expire"]


def test_revoke_takes_a_kid_that_starts_with_a_dash(app, runner, keys_of):
    from sqlalchemy import update

    clock.freeze()  # the successor of a revoked active key is published first: on this clock
    [first] = keys_of()
    db.session.execute(update(SigningKey).where(SigningKey.kid == first).values(kid="-" + first))
    db.session.commit()
    result = runner("keys", "revoke", "-" + first, "--reason", "test")
    assert result.exit_code == 0, result.output
    assert keys_of()["-" + first] == "revoked"
