"""``authserver users``: create, show, list, set a password, disable and enable users."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from authserver.accounts.service import (
    create_user,
    disable_user,
    find_user,
    list_users,
    set_password,
    update_user,
)
from authserver.cli.output import emit, fail, iso, json_option, split_multi, transaction
from authserver.mfa.service import factors_of, reset_mfa
from authserver.models import User
from authserver.platform.errors import InvalidInput, NotFound
from authserver.platform.security import generate_secret
from authserver.privacy.erasure import erase_person
from authserver.privacy.export import export_person
from authserver.rbac.containment import OPERATOR

group = AppGroup("users", help="User accounts.")


@group.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", default="")
@click.option("--role", "roles", multiple=True, help="Repeatable.")
@json_option
def create(
    email: str, password_stdin: bool, display_name: str, roles: tuple[str, ...], as_json: bool
) -> None:
    """Create a user; without --password-stdin a random password is made and printed once."""
    generated = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = generated = generate_secret()
    with transaction():
        user = create_user(
            email, password, display_name=display_name, roles=split_multi(roles), caller=OPERATOR
        )
    value = {
        "id": user.id,
        "email": user.email,
        "roles": sorted(r.name for r in user.roles),
        "password": generated,
    }
    text = f"created user {user.email}"
    if generated:
        text += f"\npassword: {generated}\n(shown once)"
    emit(value, as_json, text)


def _described(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "roles": sorted(r.name for r in user.roles),
        "active": user.is_active,
        "created_at": iso(user.created_at),
    }


def _the_user(email: str) -> User:
    user = find_user(email)
    if user is None:
        fail(NotFound(f"no user {email}"))
    return user


@group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List users (email and roles; --json for everything shown by `show`)."""
    value = [_described(u) for u in list_users()]
    emit(
        value,
        as_json,
        "\n".join(f"{u['email']}  {' '.join(u['roles'])}" for u in value) or "no users",
    )


@group.command("show")
@click.argument("email")
@json_option
def show_command(email: str, as_json: bool) -> None:
    """One user: email, display name, roles, whether active, second factors."""
    user = _the_user(email)
    factors = factors_of(user)
    value = {
        **_described(user),
        "totp": factors.has_totp,
        "passkeys": [p.name for p in factors.passkeys],
        "recovery_codes_left": factors.recovery_codes_left,
    }
    text = "\n".join(
        f"{key}: {' '.join(v) if isinstance(v, list) else v}" for key, v in value.items()
    )
    emit(value, as_json, text)


@group.command("export")
@click.argument("email")
@json_option
def export_command(email: str, as_json: bool) -> None:
    """Everything the server holds about a user, as one JSON document (GDPR Art. 15, 20;
    docs/data-protection.md); indented unless --json."""
    user = _the_user(email)
    with transaction():
        document = export_person(user, caller=OPERATOR)
    click.echo(json.dumps(document) if as_json else json.dumps(document, indent=2))


@group.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask to type the email again.")
@json_option
def erase_command(email: str, yes: bool, as_json: bool) -> None:
    """Erase a person (GDPR Art. 17; docs/data-protection.md): their sessions, tokens, API
    keys, second factors and consents go, their audit records' personal fields become
    unreadable, the audit chain stays verifiable. Cannot be undone."""
    user = _the_user(email)
    if not yes:
        typed = click.prompt(f"This cannot be undone. Type {user.email} to erase them",
                             default="", show_default=False)  # fmt: skip
        if typed.strip().lower() != user.email:
            fail(InvalidInput("not erased: the email typed does not match"))
    with transaction():
        erased = erase_person(user, caller=OPERATOR)
    emit({"subject": erased.subject, "erased": True, "rows_removed": erased.rows_removed,
          "audit_key_destroyed": erased.audit_key_destroyed,
          "legacy_audit_records": erased.legacy_audit_records}, as_json,
         f"erased {email} (subject {erased.subject})")  # fmt: skip
    if erased.legacy_audit_records:
        click.echo(f"{erased.legacy_audit_records} audit record(s) written before migration "
                   "0021 name them in the clear; AUTHSERVER_AUDIT_RETENTION prunes them",
                   err=True)  # fmt: skip


@group.command("update")
@click.argument("email")
@click.option("--display-name", default=None, help="The name shown for the user.")
@json_option
def update_command(email: str, display_name: str | None, as_json: bool) -> None:
    """Change a user's display name (what is not given stays as it is)."""
    user = _the_user(email)
    with transaction():
        update_user(user, display_name=display_name, caller=OPERATOR)
    value = _described(user)
    emit(value, as_json, f"{user.email}: {user.display_name}")


@group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
def set_password_command(email: str, password_stdin: bool, as_json: bool) -> None:
    """Set a user's password (a random one, printed once, without --password-stdin); every
    session of the user ends."""
    user = _the_user(email)
    generated = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = generated = generate_secret()
    with transaction():
        ended = set_password(user, password, caller=OPERATOR)
    text = f"password of {user.email} set; {ended} session(s) ended"
    if generated:
        text += f"\npassword: {generated}\n(shown once)"
    emit({"email": user.email, "password": generated, "sessions_ended": ended}, as_json, text)


@group.command("disable")
@click.argument("email")
@json_option
def disable_command(email: str, as_json: bool) -> None:
    """Disable a user; its sessions end and its API keys are revoked."""
    user = _the_user(email)
    with transaction():
        revoked = disable_user(user, caller=OPERATOR)
    emit({"email": user.email, "active": False, "apikeys_revoked": revoked}, as_json,
         f"disabled {user.email}; {revoked} API key(s) revoked")  # fmt: skip


@group.command("enable")
@click.argument("email")
@json_option
def enable_command(email: str, as_json: bool) -> None:
    """Enable a disabled user again (revoked API keys stay revoked)."""
    user = _the_user(email)
    with transaction():
        update_user(user, is_active=True, caller=OPERATOR)
    emit({"email": user.email, "active": True}, as_json, f"enabled {user.email}")


@group.command("reset-mfa")
@click.argument("email")
@json_option
def reset_mfa_command(email: str, as_json: bool) -> None:
    """Remove a user's second factors and recovery codes (a user who lost them); their sessions
    end, and they enrol again at the next sign-in if a role requires it."""
    user = _the_user(email)
    with transaction():
        reset_mfa(user, caller=OPERATOR)
    emit({"email": user.email, "second_factors_removed": True}, as_json,
         f"second factors of {user.email} removed; sessions ended")  # fmt: skip
