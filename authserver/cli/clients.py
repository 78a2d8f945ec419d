"""``authserver clients``: register and list OAuth clients."""

from __future__ import annotations

from pathlib import Path

import click
from authserver_verify import json_input
from flask.cli import AppGroup

from authserver.cli.keys import Duration
from authserver.cli.output import emit, fail, iso, json_option, split_multi, transaction
from authserver.clients.service import (
    ClientChanges,
    NewClient,
    create_client,
    disable_client,
    enable_client,
    find_client_any,
    list_clients,
    rotate_client_secret,
    update_client,
)
from authserver.models import Client
from authserver.platform.errors import InvalidInput, NotFound
from authserver.platform.runtime import current_runtime
from authserver.rbac.containment import OPERATOR

group = AppGroup("clients", help="OAuth clients.")
_QUOTA_HELP = 'Quota on the client\'s {} requests, e.g. "600/minute burst 100"; off: none.'


@group.command("create")
@click.option("--name", required=True)
@click.option("--grant-type", "grant_types", multiple=True, help="Repeatable.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeatable.")
@click.option("--scope", "scopes", multiple=True, help="Repeatable (or space-separated).")
@click.option("--public", is_flag=True, help="A public client (no secret, auth method none).")
@click.option("--auth-method", default=None, help="client_secret_basic (default), ...")
@click.option("--role", "roles", multiple=True, help="Repeatable.")
@click.option("--jwks", "jwks_path", type=click.Path(dir_okay=False), help="For private_key_jwt.")
@click.option("--jwks-uri", default=None, help="For private_key_jwt: where the keys are published.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Repeatable.")
@click.option("--id-token-alg", default="RS256", show_default=True)
@click.option("--skip-consent", is_flag=True, help="A first-party client: no consent page.")
@click.option("--require-par", is_flag=True, help="Authorization requests only through PAR.")
@click.option("--backchannel-logout-uri", default=None, help="Where logout tokens are POSTed.")
@click.option("--resource", "resources", multiple=True, help="RFC 8707 resource URI. Repeatable.")
@click.option("--require-dpop", is_flag=True, help="Access tokens only DPoP-bound (RFC 9449).")
@click.option("--token-quota", default=None, help=_QUOTA_HELP.format("token"))
@click.option("--introspection-quota", default=None, help=_QUOTA_HELP.format("introspection"))
@click.option(
    "--force-mfa-roles", is_flag=True,
    help="Give roles that require a second factor (which binds users only) to this client.",
)  # fmt: skip
@json_option
def create(
    name: str,
    grant_types: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    public: bool,
    auth_method: str | None,
    roles: tuple[str, ...],
    jwks_path: str | None,
    jwks_uri: str | None,
    logout_uris: tuple[str, ...],
    id_token_alg: str,
    skip_consent: bool,
    require_par: bool,
    backchannel_logout_uri: str | None,
    resources: tuple[str, ...],
    require_dpop: bool,
    token_quota: str | None,
    introspection_quota: str | None,
    force_mfa_roles: bool,
    as_json: bool,
) -> None:
    """Register a client; its secret is printed once."""
    with transaction():
        jwks = _read_jwks(jwks_path) if jwks_path else None
        client, secret = create_client(
            current_runtime().settings,
            NewClient(
                name=name,
                grant_types=split_multi(grant_types)
                or (("authorization_code",) if public else ("client_credentials",)),
                redirect_uris=split_multi(redirect_uris),
                scope=" ".join(split_multi(scopes)),
                public=public,
                auth_method=auth_method,
                roles=split_multi(roles),
                jwks=jwks,
                jwks_uri=jwks_uri,
                post_logout_redirect_uris=split_multi(logout_uris),
                id_token_alg=id_token_alg,
                skip_consent=skip_consent,
                require_par=require_par,
                backchannel_logout_uri=backchannel_logout_uri,
                resources=split_multi(resources),
                require_dpop=require_dpop,
                force_mfa_roles=force_mfa_roles,
                token_quota=token_quota,
                introspection_quota=introspection_quota,
            ),
            caller=OPERATOR,
        )
    value = {
        "client_id": client.client_id,
        "client_secret": secret,
        "name": client.name,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "token_quota": client.token_quota,
        "introspection_quota": client.introspection_quota,
    }
    text = f"client_id:     {client.client_id}"
    if secret:
        text += f"\nclient_secret: {secret}\n(the secret is shown once and cannot be shown again)"
    emit(value, as_json, text)


def _read_jwks(path: str) -> dict:
    try:
        return json_input.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        raise InvalidInput(f"cannot read a JWK Set from {path}") from None


def _described(c: Client) -> dict:
    return {
        "client_id": c.client_id,
        "name": c.name,
        "public": c.is_public,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "grant_types": c.grant_types,
        "scope": c.scope,
        "roles": sorted(r.name for r in c.roles),
        "token_quota": c.token_quota,
        "introspection_quota": c.introspection_quota,
        "active": c.is_active,
        "created_at": iso(c.created_at),
    }


def _the_client(client_id: str) -> Client:
    client = find_client_any(client_id)
    if client is None:
        fail(NotFound(f"no client {client_id}"))
    return client


@group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List clients (never their secrets)."""
    value = [_described(c) for c in list_clients()]
    lines = [f"{c['client_id']}  {c['name']}  [{c['scope']}]" for c in value]
    emit(value, as_json, "\n".join(lines) or "no clients")


@group.command("update")
@click.argument("client_id")
@click.option("--name", default=None)
@click.option("--token-quota", default=None, help=_QUOTA_HELP.format("token"))
@click.option("--introspection-quota", default=None, help=_QUOTA_HELP.format("introspection"))
@json_option
def update_command(
    client_id: str,
    name: str | None,
    token_quota: str | None,
    introspection_quota: str | None,
    as_json: bool,
) -> None:
    """Change a client's name or quotas (what is not given stays as it is)."""
    with transaction():
        client = find_client_any(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        changes = ClientChanges(
            name=name, token_quota=token_quota, introspection_quota=introspection_quota
        )
        update_client(client, changes, caller=OPERATOR)
    value = {
        "client_id": client.client_id,
        "name": client.name,
        "token_quota": client.token_quota,
        "introspection_quota": client.introspection_quota,
    }
    emit(value, as_json, "\n".join(f"{k}: {v}" for k, v in value.items()))


@group.command("show")
@click.argument("client_id")
@json_option
def show_command(client_id: str, as_json: bool) -> None:
    """One client: its settings, roles and state (never a secret)."""
    client = _the_client(client_id)
    value = {
        **_described(client),
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "skip_consent": client.skip_consent,
        "require_par": client.require_pushed_authorization_requests,
        "require_dpop": client.dpop_bound_access_tokens,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "jwks_uri": client.jwks_uri,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "resources": client.resources,
    }
    text = "\n".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}" for k, v in value.items())
    emit(value, as_json, text)


@group.command("disable")
@click.argument("client_id")
@json_option
def disable_command(client_id: str, as_json: bool) -> None:
    """Disable a client; it can no longer authenticate and its API keys are revoked."""
    client = _the_client(client_id)
    with transaction():
        revoked = disable_client(client, caller=OPERATOR)
    emit({"client_id": client_id, "active": False, "apikeys_revoked": revoked}, as_json,
         f"disabled {client_id}; {revoked} API key(s) revoked")  # fmt: skip


@group.command("enable")
@click.argument("client_id")
@json_option
def enable_command(client_id: str, as_json: bool) -> None:
    """Let a disabled client authenticate again (revoked API keys stay revoked)."""
    client = _the_client(client_id)
    with transaction():
        enable_client(client, caller=OPERATOR)
    emit({"client_id": client_id, "active": True}, as_json, f"enabled {client_id}")


@group.command("rotate-secret")
@click.argument("client_id")
@click.option("--grace", type=Duration(), default="24h", show_default=True)
@json_option
def rotate_secret_command(client_id: str, grace: int, as_json: bool) -> None:
    """A new secret, shown once; the current one keeps working for the grace period."""
    with transaction():
        client = find_client_any(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        secret, old_until = rotate_client_secret(client, grace_seconds=grace, caller=OPERATOR)
    value = {
        "client_id": client_id,
        "client_secret": secret,
        "old_secret_expires_at": iso(old_until),
    }
    emit(value, as_json, f"{secret}\n(shown once; the previous secret stops at {iso(old_until)})")
