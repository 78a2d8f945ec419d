"""The `authserver` CLI: init, clients, users, keys; --json prints exactly one JSON value."""

from __future__ import annotations

import json

from sqlalchemy import select

from authserver.models import SigningKey, User
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime


def test_init_is_idempotent(app, runner):
    kids = set(db.session.scalars(select(SigningKey.kid)))
    result = runner("init")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert set(db.session.scalars(select(SigningKey.kid))) == kids


def test_init_demo_prints_credentials_once(app, runner):
    first = runner("init", "--demo")
    assert first.exit_code == 0, first.output
    assert "client_secret:" in first.output and "password:" in first.output
    secret = first.output.split("client_secret:")[1].split()[0]
    second = runner("init", "--demo")
    assert second.exit_code == 0
    assert "client_secret:" not in second.output and "password:" not in second.output
    assert secret not in second.output
    admin = db.session.scalar(select(User).where(User.email == "admin@example.com"))
    assert [r.name for r in admin.roles] == ["admin"]


def test_the_demo_client_gets_a_token(app, runner, http):
    output = runner("init", "--demo").output
    client_id = output.split("client_id:")[1].split()[0]
    secret = output.split("client_secret:")[1].split()[0]
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200
    assert response.get_json()["scope"] == "demo:read demo:write"


def test_clients_create_json_is_exactly_one_value(runner):
    result = runner("clients", "create", "--name", "svc", "--scope", "a b", "--json")
    assert result.exit_code == 0
    value = json.loads(result.stdout)
    assert set(value) >= {"client_id", "client_secret"}
    assert len(value["client_secret"]) >= 43  # 256 bits, base64url
    assert value["scope"] == "a b"


def test_repeatable_options_accept_space_separated_values(runner):
    result = runner(
        "clients",
        "create",
        "--name",
        "svc",
        "--role",
        "admin resource-server",
        "--force-mfa-roles",
        "--json",
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(runner("clients", "list", "--json").stdout)
    assert listed[0]["roles"] == ["admin", "resource-server"]


def test_scope_repeats_at_clients_create_as_everywhere_else(runner):
    """--scope a --scope b kept only b; both ways of giving several now agree."""
    for name, scope_args in (("repeated", ["--scope", "openid", "--scope", "profile email"]),
                             ("spaced", ["--scope", "openid profile email"])):  # fmt: skip
        made = runner("clients", "create", "--name", name, *scope_args, "--json")
        assert made.exit_code == 0, made.output
    listed = {c["name"]: c["scope"] for c in json.loads(runner("clients", "list", "--json").stdout)}
    assert listed == {"repeated": "openid profile email", "spaced": "openid profile email"}


def test_public_client_has_no_secret(runner):
    # A public client gets the code flow by default (a client without any grant type was
    # accepted at creation and refused at every change); the flow needs a redirect URI.
    grantless = runner("clients", "create", "--name", "spa", "--public", "--json")
    assert grantless.exit_code == 1 and "redirect_uri" in grantless.output
    result = runner("clients", "create", "--name", "spa", "--public",
                    "--redirect-uri", "https://spa.example/cb", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    value = json.loads(result.stdout)
    assert value["client_secret"] is None
    assert value["token_endpoint_auth_method"] == "none"
    assert value["grant_types"] == ["authorization_code"]


def test_clients_list_never_shows_a_secret(runner):
    secret = json.loads(runner("clients", "create", "--name", "svc", "--json").stdout)[
        "client_secret"
    ]
    listed = runner("clients", "list", "--json")
    assert secret not in listed.output
    assert json.loads(listed.stdout)[0]["name"] == "svc"


def test_bad_client_options_fail_with_a_message(runner):
    cases = [
        (["--grant-type", "password"], "is not one of"),
        (["--auth-method", "tls_client_auth"], "unknown auth method"),
        (["--role", "no-such-role"], "unknown role"),
        (["--scope", 'a"b'], "invalid scope"),
        (["--auth-method", "private_key_jwt"], "JWK Set"),
        (["--token-quota", "plenty"], "token_quota: not a rate"),
    ]
    for extra, message in cases:
        result = runner("clients", "create", "--name", "x", *extra)
        assert result.exit_code == 1, extra
        assert message in result.output, (extra, result.output)


def test_clients_quotas_are_set_at_creation_and_changed_by_update(runner):
    created = runner("clients", "create", "--name", "svc", "--token-quota", "600 per minute",
                     "--json")  # fmt: skip
    assert created.exit_code == 0, created.output
    value = json.loads(created.stdout)
    assert value["token_quota"] == "600/minute" and value["introspection_quota"] is None
    client_id = value["client_id"]
    updated = runner("clients", "update", client_id, "--introspection-quota",
                     "10/second burst 50", "--token-quota", "off", "--json")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout) == {
        "client_id": client_id, "name": "svc", "token_quota": None,
        "introspection_quota": "10/second burst 50",
    }  # fmt: skip
    listed = json.loads(runner("clients", "list", "--json").stdout)
    assert listed[0]["introspection_quota"] == "10/second burst 50"
    missing = runner("clients", "update", "nobody", "--token-quota", "1/second")
    assert missing.exit_code == 1 and "no client" in missing.output


def test_users_create_with_password_from_stdin(app, runner):
    result = runner(
        "users",
        "create",
        "Ada@Example.com",
        "--password-stdin",
        "--role",
        "admin",
        "--json",
        input="correct horse battery staple\n",
    )
    assert result.exit_code == 0, result.output
    value = json.loads(result.stdout)
    assert value == {
        "id": value["id"],
        "email": "ada@example.com",
        "roles": ["admin"],
        "password": None,
    }
    user = db.session.get(User, value["id"])
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash


def test_users_create_refuses_a_short_password_and_a_duplicate(runner):
    short = runner("users", "create", "a@example.com", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "12 characters" in short.output
    assert runner("users", "create", "a@example.com").exit_code == 0
    duplicate = runner("users", "create", "A@example.com")
    assert duplicate.exit_code == 1 and "exists" in duplicate.output


def test_users_list_and_keys_list_json(runner):
    runner("users", "create", "b@example.com")
    users = json.loads(runner("users", "list", "--json").stdout)
    assert [u["email"] for u in users] == ["b@example.com"]
    keys = json.loads(runner("keys", "list", "--json").stdout)
    assert sorted(k["alg"] for k in keys) == ["ES256", "Ed25519", "RS256"]
    assert all(k["state"] == "active" and k["activated_at"] for k in keys)
    assert not any("private" in json.dumps(k).lower() for k in keys)


def test_clients_rotate_secret_keeps_the_old_one_for_the_grace_period(runner, http):
    created = json.loads(runner("clients", "create", "--name", "svc", "--json").stdout)
    cid, old = created["client_id"], created["client_secret"]
    result = runner("clients", "rotate-secret", cid, "--grace", "1h", "--json")
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    new = rotated["client_secret"]
    assert new != old and rotated["old_secret_expires_at"]

    def works(secret: str) -> bool:
        form = {"grant_type": "client_credentials"}
        return http.post("/oauth/token", data=form, auth=(cid, secret)).status_code == 200

    current_runtime().clients.invalidate()
    assert works(old) and works(new)
    clock.advance(3601)
    assert works(new) and not works(old)
    assert runner("clients", "rotate-secret", "nobody").exit_code != 0


def test_a_url_the_server_would_fetch_is_refused_at_registration_naming_the_rule(runner):
    refused = runner("clients", "create", "--name", "k", "--auth-method", "private_key_jwt",
                     "--jwks-uri", "https://169.254.169.254/latest/meta-data/")  # fmt: skip
    assert refused.exit_code == 1 and "(rule: address)" in refused.output
    assert "link-local" in refused.output
    refused = runner("clients", "create", "--name", "b", "--backchannel-logout-uri",
                     "gopher://rp.example/")  # fmt: skip
    assert refused.exit_code == 1 and "(rule: scheme)" in refused.output
    listed = runner("clients", "list", "--json")
    assert '"name": "k"' not in listed.stdout and '"name": "b"' not in listed.stdout


def test_version_and_help_are_the_servers_own(runner):
    from importlib.metadata import version

    shown = runner("--version")
    assert shown.exit_code == 0
    assert shown.output.strip() == f"authserver, version {version('authserver')}"
    helped = runner("--help").output
    assert "--version" in helped and "clients" in helped
    assert not any(flag in helped for flag in ("--app", "--env-file", "--debug"))


def test_the_help_lists_each_commands_own_summary_without_importing_it():
    import click

    from authserver.cli import COMMANDS, cli

    ctx = click.Context(cli)
    for name, (_, _, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command.get_short_help_str(limit=1000) == summary, name
    assert sorted(cli.commands) == []  # nothing registered eagerly


def test_help_version_and_kek_generate_build_no_app_and_load_no_database_library(tmp_path):
    """They answer in a fraction of a second because they import neither SQLAlchemy nor the
    app (measured: 0.2 s against 1.4 s before); asserted by what is loaded, not by time."""
    import subprocess
    import sys

    heavy = ("sqlalchemy", "authserver.app", "authlib", "flask_migrate")
    for args in (["--help"], ["--version"], ["kek", "generate"], ["serve", "--help"],
                 ["db", "--help"]):  # fmt: skip
        probe = (
            "import sys\nfrom authserver.cli import cli\n"
            f"cli.main({args!r}, prog_name='authserver', standalone_mode=False)\n"
            f"print('LOADED', *[m for m in {heavy!r} if m in sys.modules])"
        )
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, check=True)  # fmt: skip
        assert done.stdout.splitlines()[-1] == "LOADED", (args, done.stdout)


def test_db_offers_operators_upgrade_current_and_history_only(runner):
    listed = runner("db", "--help").output.split("Commands:")[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == [
        "current", "history", "upgrade"
    ]  # fmt: skip
    current = runner("db", "current")
    assert current.exit_code == 0, current.output


def test_a_database_that_cannot_be_reached_is_told_apart_from_one_not_initialised(tmp_path):
    """Through the installed command (its error handling is in main()), without the URL's
    password in what it prints."""
    import os
    import subprocess

    from tests.server_process import AUTHSERVER

    def run(url: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "AUTHSERVER_DATABASE_URL": url,
               "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys")}  # fmt: skip
        return subprocess.run([AUTHSERVER, "clients", "list"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    unreachable = run("postgresql+psycopg://ops:s3cret-pw@127.0.0.1:1/auth")
    assert unreachable.returncode == 2
    assert "cannot be reached" in unreachable.stderr and "s3cret-pw" not in unreachable.stderr
    empty = run(f"sqlite:///{tmp_path / 'empty.db'}")
    assert empty.returncode == 2 and "run `authserver init`" in empty.stderr


def test_set_password_replaces_the_password_and_ends_every_session(app, runner):
    from authserver.accounts.service import authenticate, find_user
    from authserver.accounts.sessions import find_session, start_session
    from authserver.models import AuditEvent

    runner("users", "create", "kim@example.com", "--password-stdin", input="old password 1234\n")
    user = find_user("kim@example.com")
    cookie, _ = start_session(current_runtime().settings, user, amr=["pwd"], ip="", user_agent="")
    db.session.commit()

    short = runner("users", "set-password", "kim@example.com", "--password-stdin", input="x\n")
    assert short.exit_code == 1 and "12 characters" in short.output
    db.session.expire_all()
    assert authenticate("kim@example.com", "old password 1234") is not None
    assert find_session(cookie) is not None  # a refused password changes nothing

    done = runner("users", "set-password", "kim@example.com", "--password-stdin",
                  input="new password 5678\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "1 session(s) ended" in done.output and "new password" not in done.output
    db.session.expire_all()
    assert authenticate("kim@example.com", "new password 5678") is not None
    assert authenticate("kim@example.com", "old password 1234") is None
    assert find_session(cookie) is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "account:password:set"))
    assert event is not None and "new password" not in json.dumps(event.data)

    generated = runner("users", "set-password", "kim@example.com")
    password = generated.output.split("password: ")[1].split()[0]
    db.session.expire_all()
    assert authenticate("kim@example.com", password) is not None
    missing = runner("users", "set-password", "nobody@example.com", "--password-stdin", input="x\n")
    assert missing.exit_code == 1 and "no user nobody@example.com" in missing.output


def test_a_disabled_user_is_enabled_again_and_shown(runner):
    runner("users", "create", "lee@example.com", "--role", "auditor")
    assert runner("users", "disable", "lee@example.com").exit_code == 0
    shown = json.loads(runner("users", "show", "lee@example.com", "--json").stdout)
    assert shown["active"] is False and shown["roles"] == ["auditor"]
    assert shown["totp"] is False and shown["passkeys"] == []
    assert runner("users", "enable", "lee@example.com").exit_code == 0
    assert json.loads(runner("users", "show", "lee@example.com", "--json").stdout)["active"]
    assert "active: True" in runner("users", "show", "lee@example.com").output
    renamed = json.loads(runner("users", "update", "lee@example.com", "--display-name", "Lee Q",
                                "--json").stdout)  # fmt: skip
    assert renamed["display_name"] == "Lee Q"
    blank = runner("users", "update", "lee@example.com", "--display-name", " ")
    assert blank.exit_code == 1 and "display_name" in blank.output


def test_the_demo_banner_says_where_to_sign_in_and_sets_the_secrets_apart(app, runner):
    first = runner("init", "--demo").output
    issuer = current_runtime().settings.issuer
    assert f"Sign in at {issuer}/admin" in first
    assert "admin@example.com" in first and "authenticator app" in first
    lines = first.splitlines()
    rules = [i for i, line in enumerate(lines) if set(line) == {"─"}]
    secret_lines = [i for i, line in enumerate(lines) if "password:" in line or "secret:" in line]
    assert len(rules) == 2 and all(rules[0] < i < rules[1] for i in secret_lines)
    again = runner("init", "--demo").output
    assert f"Sign in at {issuer}/admin" in again and "was shown once, when it was made" in again


def test_an_option_that_takes_one_value_given_twice_is_refused_not_dropped(runner):
    twice = runner("clients", "create", "--name", "a", "--name", "b", "--json")
    assert twice.exit_code == 2 and "--name was given more than once" in twice.output
    assert json.loads(runner("clients", "list", "--json").stdout) == []  # nothing was made
    equals = runner("users", "create", "x@example.com", "--display-name=a", "--display-name", "b")
    assert equals.exit_code == 2 and "--display-name was given more than once" in equals.output
    repeatable = runner("clients", "create", "--name", "a", "--scope", "s1", "--scope", "s2",
                        "--json")  # fmt: skip
    assert repeatable.exit_code == 0 and json.loads(repeatable.stdout)["scope"] == "s1 s2"


# Commands that print no data of their own: a server, the schema's own tools, a secret for a
# variable (printed bare so it can be captured), records that are JSON lines already.
_NO_JSON = {
    "serve",
    "init",
    "db upgrade",
    "db current",
    "db history",
    "kek generate",
    "audit tail",
    "gateway rules export",
}  # export's output is the JSON file `import` reads


def test_every_command_that_prints_data_takes_json():
    import click

    from authserver.cli import COMMANDS, cli

    def leaves(name: str, command: click.Command):
        if not isinstance(command, click.Group):
            yield name, command
            return
        for sub, inner in command.commands.items():  # groups within groups too
            yield from leaves(f"{name} {sub}", inner)

    ctx = click.Context(cli)
    lacking = []
    for name in COMMANDS:
        for full, leaf in leaves(name, cli.get_command(ctx, name)):
            if full not in _NO_JSON and "as_json" not in {p.name for p in leaf.params}:
                lacking.append(full)
    assert lacking == []


def test_clients_show_disable_and_enable_with_json(runner, http):
    made = json.loads(runner("clients", "create", "--name", "svc", "--scope", "a", "--json").stdout)
    client_id, secret = made["client_id"], made["client_secret"]
    shown = json.loads(runner("clients", "show", client_id, "--json").stdout)
    assert shown["name"] == "svc" and shown["active"] is True and "client_secret" not in shown
    assert shown["grant_types"] == ["client_credentials"] and shown["require_dpop"] is False

    def token():
        return http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(client_id, secret)).status_code  # fmt: skip

    disabled = json.loads(runner("clients", "disable", client_id, "--json").stdout)
    assert disabled == {"client_id": client_id, "active": False, "apikeys_revoked": 0}
    assert token() == 401
    enabled = json.loads(runner("clients", "enable", client_id, "--json").stdout)
    assert enabled == {"client_id": client_id, "active": True}
    assert token() == 200
    missing = runner("clients", "show", "nope")
    assert missing.exit_code == 1 and "no client nope" in missing.output


def test_json_of_the_commands_that_change_one_thing(runner):
    runner("users", "create", "j@example.com")
    for args, expected in (
        (("users", "disable", "j@example.com"),
         {"email": "j@example.com", "active": False, "apikeys_revoked": 0}),
        (("users", "enable", "j@example.com"), {"email": "j@example.com", "active": True}),
        (("roles", "grant", "auditor", "--user", "j@example.com"),
         {"role": "auditor", "user": "j@example.com", "client": None, "granted": True}),
        (("roles", "require-mfa", "auditor"), {"name": "auditor", "requires_mfa": True}),
    ):  # fmt: skip
        result = runner(*args, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == expected
    verified = json.loads(runner("audit", "verify", "--json").stdout)
    assert verified["intact"] is True and verified["checked"] > 0
