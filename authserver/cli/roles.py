"""``authserver roles``: roles bundle permissions (scopes); users and clients hold roles."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.accounts.service import find_user
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.cli.output import emit, split_multi, transaction
from authserver.clients.service import find_client
from authserver.errors import InvalidInput, NotFound
from authserver.rbac.service import create_role, grant_role, list_roles, revoke_role

group = AppGroup("roles", help="Roles and their assignments.")


@group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, help="Repeatable.")
@click.option("--description", default="")
@click.option("--json", "as_json", is_flag=True)
def create_command(name: str, scopes: tuple[str, ...], description: str, as_json: bool) -> None:
    with transaction():
        role = create_role(name, list(split_multi(scopes)), description)
        record(Tag.ROLE_CREATED, actor="cli", role=name, permissions=sorted(role.permission_names))
    emit(
        {"name": role.name, "permissions": sorted(role.permission_names)},
        as_json,
        f"created {name}",
    )


def _subject(user_email: str | None, client_id: str | None):  # noqa: ANN202
    if bool(user_email) == bool(client_id):
        raise InvalidInput("give exactly one of --user EMAIL or --client ID")
    subject = find_user(user_email) if user_email else find_client(client_id)
    if subject is None:
        raise NotFound(f"no such {'user' if user_email else 'client'}")
    return subject


@group.command("grant")
@click.argument("role")
@click.option("--user", "user_email")
@click.option("--client", "client_id")
def grant_command(role: str, user_email: str | None, client_id: str | None) -> None:
    with transaction():
        grant_role(role, _subject(user_email, client_id))
        record(Tag.ROLE_GRANTED, actor="cli", role=role, user=user_email, client=client_id)
    click.echo(f"granted {role}")


@group.command("revoke")
@click.argument("role")
@click.option("--user", "user_email")
@click.option("--client", "client_id")
def revoke_command(role: str, user_email: str | None, client_id: str | None) -> None:
    with transaction():
        revoke_role(role, _subject(user_email, client_id))
        record(Tag.ROLE_REVOKED, actor="cli", role=role, user=user_email, client=client_id)
    click.echo(f"revoked {role}")


@group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_command(as_json: bool) -> None:
    value = [
        {
            "name": r.name,
            "builtin": r.is_builtin,
            "description": r.description,
            "permissions": sorted(r.permission_names),
        }
        for r in list_roles()
    ]
    emit(value, as_json, "\n".join(f"{v['name']}: {' '.join(v['permissions'])}" for v in value))
