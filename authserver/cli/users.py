"""``authserver users``: create and list users."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from authserver.accounts.service import create_user, disable_user, find_user, list_users
from authserver.cli.output import emit, fail, iso, split_multi, transaction
from authserver.errors import NotFound
from authserver.extensions import db
from authserver.mfa.service import reset_mfa
from authserver.rbac.containment import OPERATOR
from authserver.security import generate_secret

group = AppGroup("users", help="User accounts.")


@group.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", default="")
@click.option("--role", "roles", multiple=True, help="Repeatable.")
@click.option("--json", "as_json", is_flag=True)
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


@group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_command(as_json: bool) -> None:
    users = list_users()
    value = [
        {
            "id": u.id,
            "email": u.email,
            "display_name": u.display_name,
            "roles": sorted(r.name for r in u.roles),
            "active": u.is_active,
            "created_at": iso(u.created_at),
        }
        for u in users
    ]
    emit(
        value,
        as_json,
        "\n".join(f"{u['email']}  {' '.join(u['roles'])}" for u in value) or "no users",
    )


@group.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Disable a user; its API keys are revoked."""
    user = find_user(email)
    if user is None:
        fail(NotFound(f"no user {email}"))
    revoked = disable_user(user, caller=OPERATOR)
    db.session.commit()
    click.echo(f"disabled {user.email}; {revoked} API key(s) revoked")


@group.command("reset-mfa")
@click.argument("email")
def reset_mfa_command(email: str) -> None:
    """Remove a user's second factors and recovery codes (a user who lost them); their sessions
    end, and they enrol again at the next sign-in if a role requires it."""
    user = find_user(email)
    if user is None:
        fail(NotFound(f"no user {email}"))
    reset_mfa(user, caller=OPERATOR)
    db.session.commit()
    click.echo(f"second factors of {user.email} removed; sessions ended")
