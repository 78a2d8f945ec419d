"""API keys through the CLI and the service: issue, scope, expire, rotate, revoke, list."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from authserver.apikeys.service import check_presented_key, warn_expiring
from authserver.models import ApiKey
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings


def usable(key: str) -> bool:
    db.session.expire_all()
    return check_presented_key(current_settings(), key) is not None


def test_create_shows_the_key_once_and_stores_only_a_hash(app, owner_client, make_key, runner):
    value = make_key("--client", owner_client.client_id, "--scope", "orders:read", "--name", "ci")
    key = value["key"]
    assert key.startswith(f"ask_{value['id']}_")
    assert value["masked"] == f"ask_{value['id']}_…{key[-4:]}"
    assert value["scope"] == "orders:read"
    row = db.session.scalar(select(ApiKey))
    secret = key.split("_")[2][:-6]
    assert secret not in row.secret_hash and key not in json.dumps(row.secret_hash)
    listed = runner("apikeys", "list", "--json")
    assert key not in listed.output and secret not in listed.output
    assert json.loads(listed.stdout)[0]["masked"] == value["masked"]
    assert usable(key)


def test_default_expiry_is_90_days_and_the_maximum_is_enforced(app, owner_client, make_key, runner):
    clock.freeze()
    value = make_key("--client", owner_client.client_id, "--scope", "orders:read")
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_id == value["id"]))
    assert (row.expires_at - clock.now()).days == 90
    too_long = runner(
        "apikeys",
        "create",
        "--client",
        owner_client.client_id,
        "--scope",
        "orders:read",
        "--expires-in",
        "400d",
    )
    assert too_long.exit_code == 1 and "at most 365 days" in too_long.output
    never = runner(
        "apikeys",
        "create",
        "--client",
        owner_client.client_id,
        "--scope",
        "orders:read",
        "--expires-in",
        "never",
    )
    assert never.exit_code == 1 and "not allowed by policy" in never.output


def test_a_key_stops_working_at_expires_at(app, owner_client, make_key):
    clock.freeze()
    key = make_key(
        "--client", owner_client.client_id, "--scope", "orders:read", "--expires-in", "1h"
    )["key"]
    clock.advance(3599)
    assert usable(key)
    clock.advance(1)
    assert not usable(key)


@pytest.mark.parametrize(
    "scopes, message",
    [
        (["orders:read", "orders:admin"], "does not hold orders:admin"),
        (["tokens:introspect"], "does not hold tokens:introspect"),
        (['bad"scope'], "invalid scope"),
    ],
)
def test_a_key_never_carries_more_than_its_owner(owner_client, runner, scopes, message):
    args = ["apikeys", "create", "--client", owner_client.client_id]
    for scope in scopes:
        args += ["--scope", scope]
    result = runner(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_user_owned_keys(app, runner, api_role, make_key):
    assert runner("users", "create", "dev@example.com", "--role", api_role).exit_code == 0
    value = make_key("--user", "dev@example.com", "--scope", "orders:write")
    assert value["owner"] == {"user": "dev@example.com"}
    assert usable(value["key"])


def test_exactly_one_owner(runner, owner_client):
    neither = runner("apikeys", "create", "--scope", "orders:read")
    both = runner(
        "apikeys",
        "create",
        "--user",
        "x@example.com",
        "--client",
        owner_client.client_id,
        "--scope",
        "orders:read",
    )
    assert neither.exit_code == both.exit_code == 1
    assert "exactly one owner" in neither.output and "exactly one owner" in both.output


def test_rotation_keeps_the_old_key_for_the_grace_period(app, owner_client, make_key, runner):
    clock.freeze()
    old = make_key("--client", owner_client.client_id, "--scope", "orders:read", "--name", "ci")
    result = runner("apikeys", "rotate", old["id"], "--grace", "1h", "--json")
    assert result.exit_code == 0, result.output
    new = json.loads(result.stdout)
    assert new["key"] != old["key"] and new["id"] != old["id"]
    assert new["scope"] == old["scope"] and new["name"] == "ci"
    assert usable(old["key"]) and usable(new["key"])
    clock.advance(3600)
    assert not usable(old["key"])
    assert usable(new["key"])
    again = runner("apikeys", "rotate", old["id"])
    assert again.exit_code == 1


def test_rotation_with_no_grace_stops_the_old_key_at_once(app, owner_client, make_key, runner):
    old = make_key("--client", owner_client.client_id, "--scope", "orders:read")
    new = json.loads(runner("apikeys", "rotate", old["id"], "--grace", "0", "--json").stdout)
    assert not usable(old["key"]) and usable(new["key"])


def test_revoke_is_immediate(app, owner_client, make_key, runner):
    value = make_key("--client", owner_client.client_id, "--scope", "orders:read")
    assert runner("apikeys", "revoke", value["id"], "--reason", "leaked").exit_code == 0
    assert not usable(value["key"])
    assert json.loads(runner("apikeys", "list", "--json").stdout)[0]["revoked_at"]


def test_disabling_the_owner_revokes_its_keys(app, owner_client, make_key, runner, api_role):
    by_client = make_key("--client", owner_client.client_id, "--scope", "orders:read")
    runner("users", "create", "dev@example.com", "--role", api_role)
    by_user = make_key("--user", "dev@example.com", "--scope", "orders:read")
    assert runner("clients", "disable", owner_client.client_id).exit_code == 0
    assert runner("users", "disable", "dev@example.com").exit_code == 0
    assert not usable(by_client["key"]) and not usable(by_user["key"])
    rows = db.session.scalars(select(ApiKey)).all()
    assert all(r.revoked_at is not None for r in rows)


def test_expiry_warning_is_raised_once_before_expiry(app, owner_client, make_key, runner, caplog):
    clock.freeze()
    make_key("--client", owner_client.client_id, "--scope", "orders:read", "--expires-in", "20d")
    assert warn_expiring(current_settings()) == []
    clock.advance(6 * 86400 + 1)  # 14 days (minus a second) before expiry
    warned = warn_expiring(current_settings())
    assert len(warned) == 1
    assert warn_expiring(current_settings()) == []
    assert any("apikey:key:expiring" in r.message for r in caplog.records)
    assert json.loads(runner("apikeys", "list", "--json").stdout)[0]["expiring_soon"] is True


def test_bad_keys_cost_no_database_write(app, owner_client, make_key):
    from sqlalchemy import event

    key = make_key("--client", owner_client.client_id, "--scope", "orders:read")["key"]
    candidates = [
        key[:-1] + ("A" if key[-1] != "A" else "B"),  # checksum
        "ask_" + "A" * 16 + key[20:],  # unknown id (checksum now wrong too)
        "garbage",
    ]
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for candidate in candidates:
        assert check_presented_key(current_settings(), candidate) is None
    writes = [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []


def test_expiry_warnings_go_out_in_bounded_batches_soonest_first(
    app, owner_client, make_key, caplog
):
    clock.freeze()
    for days in ("9d", "3d", "5d"):
        make_key("--client", owner_client.client_id, "--scope", "orders:read", "--expires-in", days)
    first = warn_expiring(current_settings(), batch=2)
    assert [k.expires_at - clock.now() for k in first] == [
        dt.timedelta(days=3),
        dt.timedelta(days=5),
    ]
    assert len(warn_expiring(current_settings(), batch=2)) == 1  # the rest on the next run
    assert warn_expiring(current_settings(), batch=2) == []
