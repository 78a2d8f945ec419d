"""The admin API's request and response bodies: validated on the way in, and published as the
OpenAPI document's components (one source of truth).

Inputs are strict (JSON types only, no coercion), bounded in size, and refuse unknown fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from authserver.platform.config import SIGNING_ALGORITHMS
from authserver.platform.vocabulary import AUTH_METHODS, GRANT_TYPES

MAX_DAYS = 3650 * 86400

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
ScopeToken = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")
]
RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Alg = Literal["ES256", "RS256", "Ed25519"]
assert set(SIGNING_ALGORITHMS) == {"ES256", "RS256", "Ed25519"}  # noqa: S101 - import-time guard
GraceSeconds = Annotated[int, Field(ge=0, le=30 * 86400)]
Scope = Annotated[str, StringConstraints(max_length=4000)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(Output):
    field: str
    message: str


class Problem(Output):
    """RFC 9457 problem details, as every /api/v1 error is answered."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None
    missing_permissions: list[str] | None = Field(
        None,
        description="On a 403 from the no-escalation rule: the permissions the change would "
        "give away (or the principal acted on holds) that the caller does not hold.",
    )
    violated_policies: list[str] | None = Field(
        None,
        alias="violated-policies",
        description="On a 429: the budgets that refused (draft-ietf-httpapi-ratelimit-headers).",
    )


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=100, description="Items per page.")
    cursor: str | None = Field(None, max_length=40, description="From the previous page.")


class UserQuery(PageQuery):
    email: str | None = Field(
        None, max_length=320, description="Users whose email contains this (case-insensitive)."
    )
    exact: bool = Field(False, description="With email: the whole email, not a part of it.")


class GrantQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        False,
        description="Give a client a role that requires a second factor (which binds only "
        "users who sign in); refused otherwise.",
    )


# --- users ------------------------------------------------------------------------------------


class UserOut(Output):
    id: str = Field(description="The stable opaque subject (`sub`) of the user's tokens.")
    email: str
    display_name: str
    is_active: bool
    roles: list[str]
    created_at: dt.datetime


class UserList(Output):
    items: list[UserOut]
    next_cursor: str | None


class PersonExport(Output):
    """Everything the server holds about a person (GDPR Art. 15, 20): docs/data-protection.md
    describes each member; never a secret, a hash, a public key or a credential id."""

    format: Literal["authserver.person-export"]
    version: int = Field(description="1; a new version is a change a reader must know of.")
    exported_at: str
    profile: dict
    roles: list[str]
    second_factors: dict
    sessions: list[dict]
    consents: list[dict]
    api_keys: list[dict]
    audit_events: list[dict]


class ErasureOut(Output):
    """What an erasure removed (docs/data-protection.md); the person's row stays as a
    tombstone with its subject only."""

    subject: str
    erased: bool
    rows_removed: dict[str, int] = Field(description="Rows deleted, per table.")
    audit_key_destroyed: bool = Field(
        description="The person's audit key was destroyed: the personal fields of their audit "
        "records can no longer be read."
    )
    legacy_audit_records: int = Field(
        description="Audit records written before migration 0021 that name the person in the "
        "clear (the chain forbids changing them; AUTHSERVER_AUDIT_RETENTION prunes them)."
    )


class UserCreate(Input):
    email: Email
    password: Annotated[str, StringConstraints(min_length=12, max_length=1024)]
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    roles: list[RoleName] = Field(default_factory=list, max_length=20)


class UserUpdate(Input):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    is_active: bool | None = Field(
        None, description="false disables the user: sessions end and API keys are revoked."
    )


# --- clients ----------------------------------------------------------------------------------


class SecretOut(Output):
    created_at: dt.datetime
    expires_at: dt.datetime | None


class ClientOut(Output):
    client_id: str
    name: str
    is_public: bool
    is_active: bool
    token_endpoint_auth_method: str
    grant_types: list[str]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str
    roles: list[str]
    id_token_signed_response_alg: str
    skip_consent: bool
    token_quota: str | None = Field(
        description="Quota on the client's token requests (a token bucket), null for none."
    )
    introspection_quota: str | None = Field(
        description="Quota on the client's introspection requests, null for none."
    )
    require_pushed_authorization_requests: bool = Field(
        description="Authorization requests only through PAR (RFC 9126 §6)."
    )
    dpop_bound_access_tokens: bool = Field(
        description="Access tokens only DPoP-bound (RFC 9449 §5.2)."
    )
    backchannel_logout_uri: str | None = Field(
        description="Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0)."
    )
    resources: list[str] = Field(
        description="The resource servers (RFC 8707) this client may ask tokens for."
    )
    jwks_uri: str | None = Field(description="Where its keys for private_key_jwt are published.")
    jwks: dict | None = Field(description="Its public keys for private_key_jwt, as a JWK Set.")
    secrets: list[SecretOut]
    created_at: dt.datetime


class ClientQuery(PageQuery):
    q: str | None = Field(
        None, max_length=200,
        description="Clients whose name or client_id contains this (case-insensitive).",
    )  # fmt: skip
    active: bool | None = Field(
        None, description="true: only active clients; false: only disabled ones."
    )


class ClientList(Output):
    items: list[ClientOut]
    next_cursor: str | None


Quota = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_QUOTA = (
    'A quota on the client\'s {} requests, as a token bucket: "600/minute", "10/second burst 50",'
    ' several separated by ";" (429 with Retry-After beyond it).'
)

GrantType = Literal[GRANT_TYPES]
AuthMethod = Literal[AUTH_METHODS]


class ClientCreate(Input):
    name: Name
    grant_types: list[GrantType] = Field(default=["client_credentials"], max_length=4)
    redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    scope: Scope = ""
    public: bool = False
    token_endpoint_auth_method: AuthMethod | None = None
    roles: list[RoleName] = Field(
        default_factory=list, max_length=20,
        description="Assigning roles needs roles:write and every permission they carry.",
    )  # fmt: skip
    force_mfa_roles: bool = Field(
        False,
        description="Assign roles that require a second factor although a client never signs "
        "in with one (refused otherwise).",
    )
    id_token_signed_response_alg: Alg = "RS256"  # noqa: S105 - an algorithm name
    skip_consent: bool = Field(
        False, description="Needs every permission in scope: users are not asked to consent."
    )
    jwks: dict | None = Field(None, description="A JWK Set, for private_key_jwt.")
    jwks_uri: Uri | None = Field(
        None, description="Where the keys for private_key_jwt are published (instead of jwks)."
    )
    require_pushed_authorization_requests: bool = Field(
        False, description="Authorization requests only through PAR (RFC 9126 §6)."
    )
    dpop_bound_access_tokens: bool = Field(
        False, description="Access tokens only DPoP-bound (RFC 9449 §5.2)."
    )
    backchannel_logout_uri: Uri | None = Field(
        None, description="Where logout tokens are POSTed; the server's outbound rules apply."
    )
    resources: list[Uri] = Field(
        default_factory=list, max_length=20,
        description="Resource servers (RFC 8707 absolute URIs) the client may ask tokens for.",
    )  # fmt: skip
    token_quota: Quota | None = Field(None, description=_QUOTA.format("token"))
    introspection_quota: Quota | None = Field(None, description=_QUOTA.format("introspection"))


class ClientCreated(ClientOut):
    client_secret: str | None = Field(description="Shown this once; null for a client without.")


class ClientUpdate(Input):
    name: Name | None = None
    scope: Scope | None = None
    redirect_uris: list[Uri] | None = Field(None, max_length=20)
    post_logout_redirect_uris: list[Uri] | None = Field(None, max_length=20)
    skip_consent: bool | None = None
    id_token_signed_response_alg: Alg | None = None
    require_pushed_authorization_requests: bool | None = None
    dpop_bound_access_tokens: bool | None = None
    backchannel_logout_uri: Uri | None = Field(
        None, description="Where logout tokens are POSTed; null removes it; absent: unchanged."
    )
    resources: list[Uri] | None = Field(None, max_length=20, description="Replaces the list.")
    jwks: dict | None = Field(
        None, description="A JWK Set for private_key_jwt; replaces the keys (and a jwks_uri)."
    )
    jwks_uri: Uri | None = Field(
        None, description="Where the keys for private_key_jwt are published; replaces a JWK "
        "Set; null removes it; absent: unchanged.",
    )  # fmt: skip
    token_quota: Quota | None = Field(
        None, description=_QUOTA.format("token") + " null removes it; absent: unchanged."
    )
    introspection_quota: Quota | None = Field(
        None, description=_QUOTA.format("introspection") + " null removes it; absent: unchanged."
    )
    is_active: Literal[False] | None = Field(
        None, description="false disables the client for good; its API keys are revoked."
    )


class SecretRotation(Input):
    grace_seconds: GraceSeconds = Field(
        86400, description="How long the current secret keeps working; 0 stops it now."
    )


class SecretRotated(Output):
    client_id: str
    client_secret: str = Field(description="Shown this once.")
    old_secret_expires_at: dt.datetime


# --- roles ------------------------------------------------------------------------------------


class RoleOut(Output):
    name: str
    description: str
    builtin: bool
    permissions: list[str]
    requires_mfa: bool = Field(description="Members must sign in with a second factor.")


class RoleList(Output):
    items: list[RoleOut]
    next_cursor: str | None


class RoleCreate(Input):
    name: RoleName
    description: Text = ""
    permissions: list[ScopeToken] = Field(default_factory=list, max_length=100)
    requires_mfa: bool = False


class RoleUpdate(Input):
    description: Text | None = None
    add_permissions: list[ScopeToken] = Field(default_factory=list, max_length=100)
    remove_permissions: list[ScopeToken] = Field(
        default_factory=list,
        max_length=100,
        description="Refused for a built-in role: its permissions can grow, never shrink.",
    )
    requires_mfa: bool | None = None


class RoleMembers(Output):
    users: list[str] = Field(description="User ids (subjects).")
    clients: list[str] = Field(description="client_ids.")


# --- signing keys -----------------------------------------------------------------------------


class SigningKeyOut(Output):
    kid: str
    alg: str
    state: Literal["pending", "active", "retired", "expired", "revoked"]
    created_at: dt.datetime
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None
    expired_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    planned: dict[str, dt.datetime] = Field(description="Planned transitions and their times.")


class SigningKeyList(Output):
    items: list[SigningKeyOut]


class ScheduleOut(Output):
    alg: str
    rotate_every_seconds: int
    publish_ahead_seconds: int
    retire_after_seconds: int


class ScheduleList(Output):
    items: list[ScheduleOut]


class ScheduleUpdate(Input):
    rotate_every_seconds: Annotated[int, Field(ge=1, le=MAX_DAYS)] | None = None
    publish_ahead_seconds: Annotated[int, Field(ge=0, le=MAX_DAYS)] | None = None
    retire_after_seconds: Annotated[int, Field(ge=1, le=MAX_DAYS)] | None = None


class RotationRequest(Input):
    alg: Alg | None = Field(None, description="One algorithm; all when absent.")
    now: bool = Field(
        False,
        description="Skip publishing ahead: the new key signs once it has been published for "
        "AUTHSERVER_EMERGENCY_PUBLISH (31 s by default).",
    )


class Transition(Output):
    action: str
    alg: str
    kid: str


class TransitionList(Output):
    items: list[Transition]


class KeyRevocation(Input):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyOwner(Output):
    type: Literal["user", "client"]
    id: str = Field(description="The user's id (subject) or the client's client_id.")


class ApiKeyOut(Output):
    id: str = Field(description="The public key id.")
    display: str = Field(description="Prefix, key id and the last four characters.")
    name: str
    description: str
    owner: ApiKeyOwner
    scopes: list[str]
    allowed_cidrs: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    last_used_ip: str | None


class ApiKeyList(Output):
    items: list[ApiKeyOut]
    next_cursor: str | None


#: As ``apikeys.service.KEY_STATES`` names them (a test holds the two equal).
ApiKeyStateName = Literal["active", "rotated", "expired", "revoked"]


class ApiKeyQuery(PageQuery):
    q: str | None = Field(
        None, max_length=320, description="Keys whose name, key id, or owner's email or "
        "client_id contains this (case-insensitive).",
    )  # fmt: skip
    state: ApiKeyStateName | None = Field(
        None, description="Only keys in this state: revoked; else expired; else rotated (replaced, "
        "in its grace period); else active.",
    )  # fmt: skip
    owner: str | None = Field(
        None, max_length=80, pattern=r"^(user|client):[^\s:]+$",
        description="Only the keys of one owner: `user:<id>` or `client:<client_id>`.",
    )  # fmt: skip


class ApiKeyCreate(Input):
    owner_user: Email | None = Field(None, description="Owner: a user, by email.")
    owner_client: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="Owner: a client (service account), by client_id."
    )
    scopes: list[ScopeToken] = Field(min_length=1, max_length=50)
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    description: Text = ""
    expires_in_seconds: Annotated[int, Field(ge=60, le=MAX_DAYS)] | None = Field(
        None, description="Default: the server's API-key lifetime (90 days)."
    )
    never_expires: bool = Field(False, description="Only where policy allows it.")
    allowed_cidrs: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key, shown this once.")


class ApiKeyRotation(Input):
    grace_seconds: GraceSeconds = Field(
        86400, description="How long the old key keeps working; 0 stops it now."
    )


class ApiKeyRevocation(Input):
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


# --- audit ------------------------------------------------------------------------------------


class AuditEventOut(Output):
    id: int
    at: dt.datetime
    event: str
    # As recorded: ``user:<subject>`` for a person, ``client:<id>``, ``cli`` or ``system``.
    actor: str
    # The person's email (``erased user`` once erased), or ``actor`` when not a person.
    actor_name: str
    outcome: str
    # A person's own fields (address, user agent) opened, or ``personal_data: "[erased]"``.
    data: dict


class AuditEventList(Output):
    items: list[AuditEventOut]
    next_cursor: str | None


class AuditQuery(PageQuery):
    event: str | None = Field(
        None, max_length=64, description="An event tag, or a prefix of one ending in ':'."
    )
    actor: str | None = Field(None, max_length=200)
    since: AwareDatetime | None = Field(None, description="RFC 3339 with offset, inclusive.")
    until: AwareDatetime | None = Field(None, description="RFC 3339 with offset, exclusive.")


# --- webhooks ---------------------------------------------------------------------------------

EventFilter = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^(\*|[a-z0-9:-]+)$")
]
DeliveryStateName = Literal["pending", "sending", "delivered", "failed", "cancelled"]


class WebhookSecretOut(Output):
    created_at: dt.datetime
    expires_at: dt.datetime | None = Field(
        description="When this secret stops signing; null for the current one."
    )


class WebhookOut(Output):
    id: str = Field(description="The public id, wh_ and 16 characters.")
    url: str
    events: list[str] = Field(
        description="Event tags, prefixes of them ending in ':', or '*' for every event."
    )
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    signing_secrets: list[WebhookSecretOut] = Field(
        description="The secrets that sign deliveries now, newest first (never their value)."
    )


class WebhookList(Output):
    items: list[WebhookOut]
    next_cursor: str | None


class WebhookCreate(Input):
    url: Uri = Field(description="https; checked against the outbound policy.")
    events: list[EventFilter] = Field(min_length=1, max_length=50)
    description: Annotated[str, StringConstraints(max_length=200)] = ""


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret, whsec_ and base64, shown this once.")


class WebhookUpdate(Input):
    url: Uri | None = None
    events: list[EventFilter] | None = Field(None, min_length=1, max_length=50)
    description: Annotated[str, StringConstraints(max_length=200)] | None = None
    enabled: bool | None = Field(
        None, description="false stops deliveries (those not yet sent are cancelled)."
    )


class WebhookSecretRotation(Input):
    grace_seconds: GraceSeconds = Field(
        86400, description="How long the current secret keeps signing beside the new one."
    )


class WebhookSecretRotated(Output):
    secret: str = Field(description="The new signing secret, shown this once.")
    previous_secrets_expire_at: dt.datetime
    signing_secrets: list[WebhookSecretOut]


class DeliveryOut(Output):
    id: str = Field(description="The message id, sent as webhook-id on every attempt.")
    event: str
    audit_event_id: int
    state: DeliveryStateName
    attempts: int
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_status: int | None = Field(description="The receiver's last HTTP status.")
    last_error: str | None = Field(
        description="Why the last attempt failed: status, gone (410), or the outbound "
        "reason (timeout, unreachable, tls, refused:<rule>, ...). Never the receiver's body."
    )
    last_latency_seconds: float | None
    delivered_at: dt.datetime | None


class DeliveryList(Output):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryQuery(PageQuery):
    state: DeliveryStateName | None = Field(None, description="Only deliveries in this state.")
