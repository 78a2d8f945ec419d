"""``authserver roles``: roles bundle permissions (scopes); users and clients hold roles."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.accounts.service import find_user
from authserver.cli.output import emit, json_option, split_multi, transaction
from authserver.clients.service import find_client
from authserver.platform.errors import InvalidInput, NotFound
from authserver.rbac.containment import OPERATOR
from authserver.rbac.service import (
    create_role,
    find_role,
    grant_role,
    list_roles,
    revoke_role,
    update_role,
)

group = AppGroup("roles", help="Roles and their assignments.")


@group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, help="Repeatable.")
@click.option("--description", default="")
@click.option("--require-mfa", is_flag=True, help="Members must sign in with a second factor.")
@json_option
def create_command(
    name: str, scopes: tuple[str, ...], description: str, require_mfa: bool, as_json: bool
) -> None:
    with transaction():
        role = create_role(name, list(split_multi(scopes)), description, requires_mfa=require_mfa,
                           caller=OPERATOR)  # fmt: skip
    emit(
        {
            "name": role.name,
            "permissions": sorted(role.permission_names),
            "requires_mfa": role.requires_mfa,
        },  # fmt: skip
        as_json,
        f"created {name}",
    )


@group.command("update")
@click.argument("name")
@click.option("--add", "add", multiple=True, help="A permission to add. Repeatable.")
@click.option("--remove", "remove", multiple=True, help="A permission to remove. Repeatable.")
@click.option("--description", default=None)
@json_option
def update_command(
    name: str, add: tuple[str, ...], remove: tuple[str, ...], description: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Add or remove permissions (built-in roles only grow). Administrators hand out only what
    they hold: extend the admin role with an API's scopes to let admins issue them."""
    with transaction():
        role = find_role(name)
        if role is None:
            raise NotFound(f"no role {name}")
        update_role(role, add=list(split_multi(add)), remove=list(split_multi(remove)),
                    description=description, caller=OPERATOR)  # fmt: skip
    emit(
        {"name": role.name, "permissions": sorted(role.permission_names),
         "requires_mfa": role.requires_mfa},
        as_json,
        f"{name}: {' '.join(sorted(role.permission_names))}",
    )  # fmt: skip


def _subject(user_email: str | None, client_id: str | None):  # noqa: ANN202
    if bool(user_email) == bool(client_id):
        raise InvalidInput("give exactly one of --user EMAIL or --client ID")
    subject = find_user(user_email) if user_email else find_client(client_id)
    if subject is None:
        raise NotFound(f"no such {'user' if user_email else 'client'}")
    return subject


@group.command("require-mfa")
@click.argument("name")
@click.option("--off", is_flag=True, help="Stop requiring a second factor.")
@json_option
def require_mfa_command(name: str, off: bool, as_json: bool) -> None:
    """Require (or, with --off, stop requiring) a second factor of the role's members."""
    with transaction():
        role = find_role(name)
        if role is None:
            raise NotFound(f"no role {name}")
        update_role(role, add=[], remove=[], description=None, requires_mfa=not off,
                    caller=OPERATOR)  # fmt: skip
    emit({"name": name, "requires_mfa": not off}, as_json,
         f"{name}: second factor {'not ' if off else ''}required")  # fmt: skip


@group.command("grant")
@click.argument("role")
@click.option("--user", "user_email")
@click.option("--client", "client_id")
@click.option(
    "--force",
    is_flag=True,
    help="Give a client a role that requires a second factor (binds users only).",
)
@json_option
def grant_command(
    role: str, user_email: str | None, client_id: str | None, force: bool, as_json: bool
) -> None:
    """Give a user or a client a role (only one whose permissions the caller holds)."""
    with transaction():
        grant_role(role, _subject(user_email, client_id), caller=OPERATOR, force=force)
    emit(_assignment(role, user_email, client_id, granted=True), as_json, f"granted {role}")


@group.command("revoke")
@click.argument("role")
@click.option("--user", "user_email")
@click.option("--client", "client_id")
@json_option
def revoke_command(role: str, user_email: str | None, client_id: str | None, as_json: bool) -> None:
    """Take a role from a user or a client."""
    with transaction():
        revoke_role(role, _subject(user_email, client_id), caller=OPERATOR)
    emit(_assignment(role, user_email, client_id, granted=False), as_json, f"revoked {role}")


def _assignment(role: str, user_email: str | None, client_id: str | None, *, granted: bool) -> dict:
    return {"role": role, "user": user_email, "client": client_id, "granted": granted}


@group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    value = [
        {
            "name": r.name,
            "builtin": r.is_builtin,
            "description": r.description,
            "permissions": sorted(r.permission_names),
            "requires_mfa": r.requires_mfa,
        }
        for r in list_roles()
    ]
    lines = [
        f"{v['name']}{' (MFA)' if v['requires_mfa'] else ''}: {' '.join(v['permissions'])}"
        for v in value
    ]
    emit(value, as_json, "\n".join(lines))
