"""``authserver apikeys``: issue, rotate, revoke and list API keys."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.accounts.service import find_user
from authserver.apikeys import format as keyformat
from authserver.apikeys.service import (
    NEVER,
    NewApiKey,
    create_api_key,
    is_expiring_soon,
    list_api_keys,
    revoke_api_key,
    rotate_api_key,
)
from authserver.cli.keys import Duration
from authserver.cli.output import emit, iso, json_option, split_multi, transaction
from authserver.clients.service import find_client
from authserver.models import ApiKey
from authserver.platform.errors import InvalidInput, NotFound
from authserver.platform.runtime import current_runtime
from authserver.rbac.containment import OPERATOR

group = AppGroup("apikeys", help="API keys.")


class ExpiresIn(Duration):
    name = "duration|never"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        if value == NEVER:
            return NEVER
        return super().convert(value, param, ctx)


def _describe(key: ApiKey) -> dict:
    settings = current_runtime().settings
    return {
        "id": key.key_id,
        "masked": keyformat.masked(key.prefix, key.key_id, key.last4),
        "name": key.name,
        "owner": {"user": key.owner_user.email}
        if key.owner_user
        else {"client": key.owner_client_id},
        "scope": key.scope,
        "allowed_cidrs": key.allowed_cidrs,
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "replaced_by": key.replaced_by_key_id,
        "last_used_at": iso(key.last_used_at),
        "last_used_ip": key.last_used_ip,
        "expiring_soon": is_expiring_soon(settings, key),
    }


@group.command("create")
@click.option("--user", "user_email", help="Owner: a user, by email.")
@click.option("--client", "client_id", help="Owner: a client (service account), by client_id.")
@click.option("--scope", "scopes", multiple=True, required=True, help="Repeatable.")
@click.option("--expires-in", type=ExpiresIn(), help="e.g. 30d; 'never' if policy allows.")
@click.option("--name", default="")
@click.option("--description", default="")
@click.option("--allow-ip", "cidrs", multiple=True, help="CIDR allowed to use the key.")
@json_option
def create_command(
    user_email: str | None,
    client_id: str | None,
    scopes: tuple[str, ...],
    expires_in: int | str | None,
    name: str,
    description: str,
    cidrs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Issue a key; the full key is printed once and can never be shown again."""
    with transaction():
        owner = _owner(user_email, client_id)
        plaintext, key = create_api_key(
            current_runtime().settings,
            NewApiKey(
                owner=owner,
                scopes=split_multi(scopes),
                name=name,
                description=description,
                expires_in=expires_in,
                allowed_cidrs=split_multi(cidrs),
            ),
            caller=OPERATOR,
        )
    value = {"key": plaintext, **_describe(key)}
    emit(value, as_json, f"{plaintext}\n(shown once: store it now; id {key.key_id})")


def _owner(user_email: str | None, client_id: str | None):  # noqa: ANN202
    if bool(user_email) == bool(client_id):
        raise InvalidInput("give exactly one owner: --user EMAIL or --client ID")
    if user_email:
        user = find_user(user_email)
        if user is None:
            raise NotFound(f"no user {user_email}")
        return user
    client = find_client(client_id)
    if client is None:
        raise NotFound(f"no active client {client_id}")
    return client


@group.command("rotate")
@click.argument("key_id")
@click.option("--grace", type=Duration(), default="24h", show_default=True)
@json_option
def rotate_command(key_id: str, grace: int, as_json: bool) -> None:
    """A new key with the same properties; the old one works for the grace period."""
    with transaction():
        plaintext, key = rotate_api_key(
            current_runtime().settings, key_id, grace_seconds=grace, caller=OPERATOR
        )
    value = {"key": plaintext, **_describe(key), "replaces": key_id}
    emit(value, as_json, f"{plaintext}\n(shown once; {key_id} stops working in {grace}s)")


@group.command("revoke")
@click.argument("key_id")
@click.option("--reason", default="")
@json_option
def revoke_command(key_id: str, reason: str, as_json: bool) -> None:
    """Stop a key at once."""
    with transaction():
        revoke_api_key(key_id, reason=reason, caller=OPERATOR)
    emit({"id": key_id, "revoked": True}, as_json, f"revoked {key_id}")


@group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every key: prefix, id and last 4 characters, never the secret."""
    value = [_describe(k) for k in list_api_keys()]
    lines = [
        f"{v['masked']}  {v['scope']}  expires {v['expires_at'] or 'never'}"
        + ("  REVOKED" if v["revoked_at"] else "")
        + ("  EXPIRING SOON" if v["expiring_soon"] else "")
        for v in value
    ]
    emit(value, as_json, "\n".join(lines) or "no API keys")
