"""/api/v1/api-keys: long-lived keys for scripts and partners. The full key appears in the
answer that creates it (or rotates it) and never again."""

from __future__ import annotations

from flask import current_app

from authserver.accounts.service import find_user
from authserver.api.v1.framework import Principal, Reply, operation
from authserver.api.v1.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    ApiKeyOwner,
    ApiKeyQuery,
    ApiKeyRevocation,
    ApiKeyRotation,
)
from authserver.apikeys import format as keyformat
from authserver.apikeys.service import (
    NEVER,
    NewApiKey,
    api_keys_matching,
    create_api_key,
    find_api_key,
    revoke_api_key,
    rotate_api_key,
)
from authserver.clients.service import find_client
from authserver.models import ApiKey
from authserver.platform.errors import InvalidInput, NotFound
from authserver.platform.runtime import runtime_of
from authserver.rbac.permissions import Permission
from authserver.web.paging import page

TAG = "API keys"


def api_key_out(key: ApiKey) -> ApiKeyOut:
    settings = runtime_of(current_app).settings
    if key.owner_client is not None:
        owner = ApiKeyOwner(type="client", id=key.owner_client.client_id)
    else:
        owner = ApiKeyOwner(type="user", id=key.owner_user.subject)
    return ApiKeyOut(
        id=key.key_id,
        display=keyformat.masked(settings.apikey_prefix, key.key_id, key.last4),
        name=key.name,
        description=key.description,
        owner=owner,
        scopes=key.scope.split(),
        allowed_cidrs=list(key.allowed_cidrs),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        last_used_ip=key.last_used_ip,
    )


def _created(plaintext: str, key: ApiKey) -> Reply:
    body = ApiKeyCreated(**api_key_out(key).model_dump(), key=plaintext)
    return Reply(body, location=f"/api/v1/api-keys/{key.key_id}")


@operation(
    "GET", "/api-keys", summary="List API keys (never their secrets), narrowed by ?q=, ?state=, "
    "?owner=", tag=TAG, permission=Permission.APIKEYS_READ, query=ApiKeyQuery,
    response=ApiKeyList,
)  # fmt: skip
def list_api_keys(principal: Principal, query: ApiKeyQuery) -> ApiKeyList:
    matching = api_keys_matching(query.q or "", state=query.state, owner=query.owner)
    items, next_cursor = page(matching, ApiKey.id, query, to_item=api_key_out)
    return ApiKeyList(items=items, next_cursor=next_cursor)


@operation(
    "POST", "/api-keys", summary="Issue a key; the full key is in this answer only", tag=TAG,
    permission=Permission.APIKEYS_WRITE, body=ApiKeyCreate, response=ApiKeyCreated, status=201,
)  # fmt: skip
def create(principal: Principal, body: ApiKeyCreate) -> Reply:
    if (body.owner_user is None) == (body.owner_client is None):
        raise InvalidInput("owner_user: give exactly one of owner_user or owner_client")
    owner = find_user(body.owner_user) if body.owner_user else find_client(body.owner_client)
    if owner is None:
        raise InvalidInput("owner_user: no such owner" if body.owner_user else
                           "owner_client: no such owner")  # fmt: skip
    spec = NewApiKey(
        owner=owner,
        scopes=tuple(body.scopes),
        name=body.name,
        description=body.description,
        expires_in=NEVER if body.never_expires else body.expires_in_seconds,
        allowed_cidrs=tuple(body.allowed_cidrs),
    )
    plaintext, key = create_api_key(runtime_of(current_app).settings, spec, caller=principal)
    return _created(plaintext, key)


@operation(
    "GET", "/api-keys/{key_id}", summary="Read an API key (never its secret)", tag=TAG,
    permission=Permission.APIKEYS_READ, response=ApiKeyOut,
)  # fmt: skip
def read(principal: Principal, key_id: str) -> Reply:
    key = find_api_key(key_id)
    if key is None:
        raise NotFound("no such API key")
    return Reply(api_key_out(key), etag=True)


@operation(
    "POST", "/api-keys/{key_id}/rotations",
    summary="A new key with the same properties; the old one works for a grace period",
    tag=TAG, permission=Permission.APIKEYS_WRITE, body=ApiKeyRotation, response=ApiKeyCreated,
    status=201,
)  # fmt: skip
def rotate(principal: Principal, key_id: str, body: ApiKeyRotation) -> Reply:
    plaintext, key = rotate_api_key(
        runtime_of(current_app).settings,
        key_id,
        grace_seconds=body.grace_seconds,
        caller=principal,
    )
    return _created(plaintext, key)


@operation(
    "POST", "/api-keys/{key_id}/revocation", summary="Revoke a key now", tag=TAG,
    permission=Permission.APIKEYS_WRITE, body=ApiKeyRevocation, response=ApiKeyOut,
)  # fmt: skip
def revoke(principal: Principal, key_id: str, body: ApiKeyRevocation) -> ApiKeyOut:
    return api_key_out(revoke_api_key(key_id, reason=body.reason, caller=principal))
