"""/api/v1/clients: relying parties and service accounts, and their secrets."""

from __future__ import annotations

import datetime as dt

from flask import current_app

from authserver.api.v1.framework import Deprecation, Principal, Reply, check_if_match, operation
from authserver.api.v1.schemas import (
    ClientCreate,
    ClientCreated,
    ClientList,
    ClientOut,
    ClientQuery,
    ClientUpdate,
    SecretOut,
    SecretRotated,
    SecretRotation,
)
from authserver.clients.service import (
    ClientChanges,
    NewClient,
    clients_matching,
    create_client,
    disable_client,
    find_client_any,
    rotate_client_secret,
    update_client,
)
from authserver.models import Client
from authserver.platform.errors import NotFound
from authserver.platform.runtime import runtime_of
from authserver.rbac.permissions import Permission
from authserver.web.paging import page

TAG = "clients"


def client_out(client: Client) -> ClientOut:
    return ClientOut(
        client_id=client.client_id,
        name=client.name,
        is_public=client.is_public,
        is_active=client.is_active,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        grant_types=list(client.grant_types),
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris or []),
        scope=client.scope,
        roles=sorted(role.name for role in client.roles),
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        skip_consent=client.skip_consent,
        token_quota=client.token_quota,
        introspection_quota=client.introspection_quota,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        backchannel_logout_uri=client.backchannel_logout_uri,
        resources=list(client.resources or []),
        jwks_uri=client.jwks_uri,
        jwks=client.jwks,
        secrets=[
            SecretOut(created_at=s.created_at, expires_at=s.expires_at) for s in client.secrets
        ],
        created_at=client.created_at,
    )


def _removable(body: ClientUpdate, field: str) -> str | None:
    """Absent: unchanged (None to the service); null: removed ("")."""
    if field not in body.model_fields_set:
        return None
    return getattr(body, field) or ""


def get_client(client_id: str) -> Client:
    """The client, active or not, or 404."""
    client = find_client_any(client_id)
    if client is None:
        raise NotFound("no such client")
    return client


@operation(
    "GET", "/clients", summary="List clients, or those whose name or client_id contains ?q=",
    tag=TAG, permission=Permission.CLIENTS_READ, query=ClientQuery, response=ClientList,
)  # fmt: skip
def list_clients(principal: Principal, query: ClientQuery) -> ClientList:
    matching = clients_matching(query.q or "")
    if query.active is not None:
        matching = matching.where(Client.is_active == query.active)
    items, next_cursor = page(matching, Client.id, query, to_item=client_out)
    return ClientList(items=items, next_cursor=next_cursor)


@operation(
    "POST", "/clients", summary="Register a client; its secret is shown once", tag=TAG,
    permission=Permission.CLIENTS_WRITE, body=ClientCreate, response=ClientCreated, status=201,
)  # fmt: skip
def create(principal: Principal, body: ClientCreate) -> Reply:
    spec = NewClient(
        name=body.name,
        grant_types=tuple(body.grant_types),
        redirect_uris=tuple(body.redirect_uris),
        post_logout_redirect_uris=tuple(body.post_logout_redirect_uris),
        scope=body.scope,
        public=body.public,
        auth_method=body.token_endpoint_auth_method,
        roles=tuple(body.roles),
        jwks=body.jwks,
        jwks_uri=body.jwks_uri,
        id_token_alg=body.id_token_signed_response_alg,
        skip_consent=body.skip_consent,
        require_par=body.require_pushed_authorization_requests,
        require_dpop=body.dpop_bound_access_tokens,
        backchannel_logout_uri=body.backchannel_logout_uri,
        resources=tuple(body.resources),
        force_mfa_roles=body.force_mfa_roles,
        token_quota=body.token_quota,
        introspection_quota=body.introspection_quota,
    )
    client, secret = create_client(runtime_of(current_app).settings, spec, caller=principal)
    created = ClientCreated(**client_out(client).model_dump(), client_secret=secret)
    return Reply(created, location=f"/api/v1/clients/{client.client_id}")


@operation(
    "GET", "/clients/{client_id}", summary="Read a client", tag=TAG,
    permission=Permission.CLIENTS_READ, response=ClientOut,
)  # fmt: skip
def read(principal: Principal, client_id: str) -> Reply:
    return Reply(client_out(get_client(client_id)), etag=True)


@operation(
    "PATCH", "/clients/{client_id}", summary="Change a client, or disable it", tag=TAG,
    permission=Permission.CLIENTS_WRITE, body=ClientUpdate, response=ClientOut,
    conditional=True,
)  # fmt: skip
def update(principal: Principal, client_id: str, body: ClientUpdate) -> Reply:
    client = get_client(client_id)
    check_if_match(client_out(client))
    changes = ClientChanges(
        name=body.name,
        scope=body.scope,
        redirect_uris=None if body.redirect_uris is None else tuple(body.redirect_uris),
        post_logout_redirect_uris=(
            None
            if body.post_logout_redirect_uris is None
            else tuple(body.post_logout_redirect_uris)
        ),
        skip_consent=body.skip_consent,
        # Absent: unchanged; null: removed ("" to the service).
        token_quota=_removable(body, "token_quota"),
        introspection_quota=_removable(body, "introspection_quota"),
        require_par=body.require_pushed_authorization_requests,
        require_dpop=body.dpop_bound_access_tokens,
        backchannel_logout_uri=_removable(body, "backchannel_logout_uri"),
        resources=None if body.resources is None else tuple(body.resources),
        id_token_alg=body.id_token_signed_response_alg,
        jwks=body.jwks,
        jwks_uri=_removable(body, "jwks_uri"),
    )
    if changes != ClientChanges():
        update_client(client, changes, caller=principal,
                      settings=runtime_of(current_app).settings)  # fmt: skip
    if body.is_active is False and client.is_active:
        disable_client(client, caller=principal)
    return Reply(client_out(client), etag=True)


@operation(
    "POST", "/clients/{client_id}/secret-rotations",
    summary="Issue a new secret; the current one keeps working for a grace period",
    tag=TAG, permission=Permission.CLIENTS_WRITE, body=SecretRotation, response=SecretRotated,
    status=201,
)  # fmt: skip
def rotate_secret(principal: Principal, client_id: str, body: SecretRotation) -> SecretRotated:
    client = get_client(client_id)
    secret, old_until = rotate_client_secret(
        client, grace_seconds=body.grace_seconds, caller=principal
    )
    return SecretRotated(client_id=client_id, client_secret=secret, old_secret_expires_at=old_until)


@operation(
    "POST", "/clients/{client_id}/secret",
    summary="Replace the secret at once (deprecated: use secret-rotations, which has a grace "
    "period)",
    tag=TAG, permission=Permission.CLIENTS_WRITE, response=SecretRotated, status=201,
    deprecated=Deprecation(
        since=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        sunset=dt.datetime(2027, 6, 30, tzinfo=dt.UTC),
        successor="/clients/{client_id}/secret-rotations",
    ),
)  # fmt: skip
def replace_secret(principal: Principal, client_id: str) -> SecretRotated:
    return rotate_secret(principal, client_id, SecretRotation(grace_seconds=0))
