"""Client registration rules, in one place for the CLI, the admin API and the admin UI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from authserver.apikeys.format import ALPHABET
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import Client, ClientSecret, RefreshToken
from authserver.outbound.policy import OutboundPolicy, UrlRefused
from authserver.platform import clock
from authserver.platform.config import SIGNING_ALGORITHMS, Settings, is_resource_uri
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db
from authserver.platform.rates import parse_rates, rates_text
from authserver.platform.security import generate_secret, hash_secret
from authserver.platform.text_search import ESCAPE, containing
from authserver.platform.vocabulary import (
    AUTH_METHODS,
    GRANT_TYPES,
    SECRET_AUTH_METHODS,
)
from authserver.rbac.containment import Caller, require_can_act_on, require_can_confer
from authserver.rbac.scopes import validate_scope
from authserver.rbac.service import check_assignable, roles_named

CLIENT_ID_LENGTH = 24  # ≈ 143 bits: public, but not guessable


@dataclasses.dataclass(frozen=True)
class NewClient:
    name: str
    grant_types: tuple[str, ...] = ("client_credentials",)
    redirect_uris: tuple[str, ...] = ()
    scope: str = ""
    public: bool = False
    auth_method: str | None = None
    roles: tuple[str, ...] = ()
    jwks: dict | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    id_token_alg: str = "RS256"  # noqa: S105
    skip_consent: bool = False
    require_par: bool = False
    backchannel_logout_uri: str | None = None
    resources: tuple[str, ...] = ()
    require_dpop: bool = False
    jwks_uri: str | None = None
    # Roles that require a second factor bind users; a client gets one only when forced.
    force_mfa_roles: bool = False
    # Quotas on the client's token and introspection requests ("600/minute burst 100").
    token_quota: str | None = None
    introspection_quota: str | None = None


def _auth_method(spec: NewClient) -> str:
    method = spec.auth_method or ("none" if spec.public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidInput(f"unknown auth method {method!r}; one of {', '.join(AUTH_METHODS)}")
    if spec.public and method != "none":
        raise InvalidInput("a public client authenticates with 'none'")
    if not spec.public and method == "none":
        raise InvalidInput("'none' is for public clients (--public)")
    return method


def _validate_redirect_uris(uris: tuple[str, ...], field: str) -> list[str]:
    """Absolute, no fragment (RFC 6749 §3.1.2); https, or http only on a loopback host
    (RFC 8252 §7.3); or a private-use scheme for native apps (RFC 8252 §7.1)."""
    checked = []
    for uri in dict.fromkeys(uris):
        parts = urlsplit(uri)
        if not parts.scheme or parts.fragment or len(uri) > 2000 or any(ord(c) < 0x21 for c in uri):
            raise InvalidInput(f"{field}: {uri!r} must be an absolute URI without a fragment")
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            raise InvalidInput(f"{field}: {uri!r} must use https (http only for loopback)")
        if parts.scheme in ("https", "http") and not parts.hostname:
            raise InvalidInput(f"{field}: {uri!r} has no host")
        if parts.scheme in ("javascript", "data", "file", "vbscript"):
            raise InvalidInput(f"{field}: {uri!r} uses a forbidden scheme")
        checked.append(uri)
    return checked


def _validate_jwks_uri(policy: OutboundPolicy, method: str, jwks: dict | None,
                       uri: str | None) -> str | None:  # fmt: skip
    """RFC 7591 §2: jwks_uri and jwks are alternatives; the server fetches it, so it obeys the
    outbound rules (https, no internal address unless the operator allows it)."""
    if not uri:
        return None
    if method != "private_key_jwt":
        raise InvalidInput("jwks_uri: only used with private_key_jwt")
    if jwks is not None:
        raise InvalidInput("jwks_uri: give jwks or jwks_uri, not both")
    return _fetchable(policy, uri, "jwks_uri")


def _fetchable(policy: OutboundPolicy, uri: str, field: str) -> str:
    """A URL the server itself will send requests to: refused at registration by the same
    rules the outbound module applies when it sends (and it checks the address again then)."""
    try:
        policy.check_url(uri)
    except UrlRefused as e:
        raise InvalidInput(f"{field}: {uri[:200]!r} {e} (rule: {e.rule})") from None
    return uri


def _validate_jwks(method: str, jwks: dict | None, uri: str | None = None) -> dict | None:
    if method != "private_key_jwt":
        if jwks is not None:
            raise InvalidInput("a JWK Set is only used with private_key_jwt")
        return None
    if jwks is None:
        if uri:
            return None  # fetched from jwks_uri when the client authenticates
        raise InvalidInput(
            "private_key_jwt needs the client's public keys (a JWK Set in jwks, or a jwks_uri)"
        )
    try:
        key_set = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as e:
        raise InvalidInput("the JWK Set is not valid") from e
    if any(key.is_private for key in key_set.keys):
        raise InvalidInput("the JWK Set must hold public keys only")
    return key_set.as_dict(private=False)


def _backchannel_uri(policy: OutboundPolicy, uri: str | None) -> str | None:
    """Back-Channel Logout 1.0 §2.2: an absolute http(s) URI without a fragment, which the
    server POSTs to (so the outbound rules apply)."""
    if not uri:
        return None
    return _fetchable(policy, uri, "backchannel_logout_uri")


def _resources(resources: tuple[str, ...]) -> list[str]:
    for resource in resources:
        if not is_resource_uri(resource):
            raise InvalidInput(f"resource: {resource!r} must be an absolute URI without a fragment")
    return list(dict.fromkeys(resources))


def _id_token_alg(alg: str) -> str:
    """OpenID Connect Registration §2 ``id_token_signed_response_alg``: one the key ring signs
    with (``platform.config.SIGNING_ALGORITHMS``)."""
    if alg not in SIGNING_ALGORITHMS:
        raise InvalidInput(f"id_token_alg: one of {', '.join(SIGNING_ALGORITHMS)}")
    return alg


def _quota(text: str | None, field: str) -> str | None:
    """A quota as stored: the rates in their canonical spelling, or None (``off``, empty)."""
    if text is None or not text.strip():
        return None
    try:
        rates = parse_rates(text)
    except ValueError as e:
        raise InvalidInput(
            f"{field}: {e}; a rate such as 600/minute or 10/second burst 50"
        ) from None
    return rates_text(rates) if rates else None


def new_client_id() -> str:
    # Base62, so an id never starts with "-" (a CLI argument) and needs no URL escaping.
    return "".join(secrets.choice(ALPHABET) for _ in range(CLIENT_ID_LENGTH))


def _check_consent_skip(caller: Caller, client: Client) -> None:
    """A client that skips the consent page gets a signed-in user's permissions without the
    user seeing them asked for: only someone holding those permissions may make that promise
    (otherwise clients:write plus a link sent to an admin would be the admin's tokens)."""
    if client.skip_consent:
        require_can_confer(caller, client.scope.split(), action="skipping consent for",
                           target=f"client {client.client_id}")  # fmt: skip


def create_client(
    settings: Settings, spec: NewClient, *, caller: Caller
) -> tuple[Client, str | None]:
    """Register a client; returns it with its secret in plain text (None if it has none).

    The secret exists in plain text only in the return value: the caller shows it once.
    """
    policy = OutboundPolicy.from_settings(settings)
    name = spec.name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a client needs a name of 1 to 200 characters")
    grant_types = _checked_grant_types(spec.grant_types, public=spec.public)
    method = _auth_method(spec)
    jwks_uri = _validate_jwks_uri(policy, method, spec.jwks, spec.jwks_uri)
    jwks = _validate_jwks(method, spec.jwks, jwks_uri)
    redirect_uris = _validate_redirect_uris(spec.redirect_uris, "redirect_uri")
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidInput("redirect_uri: the authorization_code grant needs at least one")
    client = Client(
        client_id=new_client_id(),
        name=name,
        is_public=spec.public,
        token_endpoint_auth_method=method,
        grant_types=grant_types,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=_validate_redirect_uris(
            spec.post_logout_redirect_uris, "post_logout_redirect_uri"
        ),
        id_token_signed_response_alg=_id_token_alg(spec.id_token_alg),
        skip_consent=spec.skip_consent,
        require_pushed_authorization_requests=spec.require_par,
        backchannel_logout_uri=_backchannel_uri(policy, spec.backchannel_logout_uri),
        resources=_resources(spec.resources),
        dpop_bound_access_tokens=spec.require_dpop,
        scope=validate_scope(spec.scope),
        jwks=jwks,
        jwks_uri=jwks_uri,
        token_quota=_quota(spec.token_quota, "token_quota"),
        introspection_quota=_quota(spec.introspection_quota, "introspection_quota"),
        created_at=clock.now(),
    )
    # Roles at creation are an assignment like any other (the same rule as roles grant).
    roles = roles_named(list(spec.roles))
    check_assignable(roles, client, caller=caller, force=spec.force_mfa_roles)
    client.roles = roles
    _check_consent_skip(caller, client)
    secret = None
    if method in SECRET_AUTH_METHODS:
        secret = generate_secret()
        client.secrets.append(ClientSecret(secret_hash=hash_secret(secret), created_at=clock.now()))
    db.session.add(client)
    db.session.flush()
    record(Tag.CLIENT_CREATED, actor=caller.actor, client=client.client_id, name=client.name,
           roles=sorted(r.name for r in roles))  # fmt: skip
    return client, secret


def find_client(client_id: str) -> Client | None:
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is None or not client.is_active:
        return None
    return client


def find_client_by_name(name: str) -> Client | None:
    return db.session.scalar(select(Client).where(Client.name == name).order_by(Client.id))


def list_clients() -> list[Client]:
    return list(db.session.scalars(select(Client).order_by(Client.id)))


def find_client_any(client_id: str) -> Client | None:
    """Active or not (for administration)."""
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def disable_client(client: Client, *, caller: Caller) -> int:
    """Disable a client: it can no longer authenticate, and its API keys are revoked."""
    from authserver.apikeys.service import revoke_keys_of

    require_can_act_on(caller, client, action="disabling")
    client.is_active = False
    # Its tokens die for good: enabling the client again does not bring them back.
    now = clock.now()
    client.tokens_valid_after = now
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.client_id == client.client_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revoked = revoke_keys_of(client, reason="owner disabled", actor=caller.actor)
    record(Tag.CLIENT_DISABLED, actor=caller.actor, client=client.client_id,
           apikeys_revoked=revoked)  # fmt: skip
    db.session.flush()
    return revoked


def enable_client(client: Client, *, caller: Caller) -> None:
    """Let a disabled client authenticate again (its revoked API keys stay revoked)."""
    require_can_act_on(caller, client, action="enabling")
    if not client.is_active:
        client.is_active = True
        record(Tag.CLIENT_UPDATED, actor=caller.actor, client=client.client_id, enabled=True)
    db.session.flush()


def rotate_client_secret(
    client: Client, *, grace_seconds: int, caller: Caller
) -> tuple[str, dt.datetime | None]:
    """Issue a new secret; the current ones stay valid for ``grace_seconds`` (0: stop now), so
    a deployment can roll the new secret out before the old one stops working. Returns the new
    secret in plain text (shown once) and when the old ones stop. Whoever receives it can act
    as the client: the caller must hold everything the client holds."""
    require_can_act_on(caller, client, action="rotating the secret of")
    if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
        raise InvalidInput("this client authenticates without a shared secret")
    if grace_seconds < 0:
        raise InvalidInput("grace: must not be negative")
    now = clock.now()
    old_until = now + dt.timedelta(seconds=grace_seconds)
    for old in client.secrets:
        if old.is_valid_at(now) and (old.expires_at is None or old.expires_at > old_until):
            old.expires_at = old_until
    # Secrets past their grace period are of no use to anyone: drop them.
    client.secrets = [s for s in client.secrets if s.is_valid_at(now)]
    secret = generate_secret()
    client.secrets.append(ClientSecret(secret_hash=hash_secret(secret), created_at=now))
    record(
        Tag.CLIENT_SECRET_ROTATED,
        actor=caller.actor,
        client=client.client_id,
        old_secrets_expire_at=old_until.isoformat(),
    )
    db.session.flush()
    return secret, old_until


@dataclasses.dataclass(frozen=True)
class ClientChanges:
    """Fields an administrator may change after registration (None: unchanged)."""

    name: str | None = None
    scope: str | None = None
    redirect_uris: tuple[str, ...] | None = None
    post_logout_redirect_uris: tuple[str, ...] | None = None
    skip_consent: bool | None = None
    grant_types: tuple[str, ...] | None = None
    auth_method: str | None = None
    # A quota's rates; "" or "off" removes it.
    token_quota: str | None = None
    introspection_quota: str | None = None
    require_par: bool | None = None
    require_dpop: bool | None = None
    # "" removes it.
    backchannel_logout_uri: str | None = None
    resources: tuple[str, ...] | None = None
    id_token_alg: str | None = None
    # private_key_jwt's public keys: a JWK Set, or where it is published ("" removes the URI).
    # Either one replaces the other (RFC 7591 §2: they are alternatives).
    jwks: dict | None = None
    jwks_uri: str | None = None


def _checked_grant_types(grant_types: Iterable[str], *, public: bool) -> list[str]:
    """The one rule for a client's grant types, at creation and at every change."""
    chosen = list(dict.fromkeys(grant_types))
    for grant_type in chosen:
        if grant_type not in GRANT_TYPES:
            supported = ", ".join(GRANT_TYPES)
            raise InvalidInput(f"grant_types: {grant_type!r} is not one of {supported}")
    if not chosen:
        raise InvalidInput("grant_types: at least one")
    if public and "client_credentials" in chosen:
        raise InvalidInput("grant_types: a public client cannot use client_credentials "
                           "(RFC 6749 §4.4)")  # fmt: skip
    return chosen


def _check_auth_method(client: Client, method: str, *, has_keys: bool) -> str:
    """Between the methods of the same kind only: public or confidential, and which key or
    secret proves it, are decided at registration (a secret is shown once, then)."""
    if method not in AUTH_METHODS:
        raise InvalidInput(f"auth_method: one of {', '.join(AUTH_METHODS)}")
    current = client.token_endpoint_auth_method
    secret_based = SECRET_AUTH_METHODS
    if method == current or (method in secret_based and current in secret_based):
        return method
    if method == "private_key_jwt" and has_keys and current != "none":
        return method
    raise InvalidInput(f"auth_method: cannot change from {current} to {method}; register anew")


def _changed_keys(
    policy: Callable[[], OutboundPolicy], client: Client, changes: ClientChanges, method: str
) -> tuple[dict | None, str | None]:
    """The client's JWK Set and jwks_uri after ``changes``, by the rules of registration: one
    of the two (giving one replaces the other), only with private_key_jwt, which needs one."""
    jwks, uri = client.jwks, client.jwks_uri
    if changes.jwks is not None and changes.jwks_uri:
        raise InvalidInput("jwks_uri: give jwks or jwks_uri, not both")
    if changes.jwks is not None:
        jwks, uri = changes.jwks, None
    elif changes.jwks_uri is not None:
        uri = changes.jwks_uri.strip() or None
        if uri is not None:
            jwks = None
    if uri is not None and uri != client.jwks_uri:  # a new URL obeys the outbound rules
        uri = _validate_jwks_uri(policy(), method, jwks, uri)
    elif uri is not None and method != "private_key_jwt":
        raise InvalidInput("jwks_uri: only used with private_key_jwt")
    return _validate_jwks(method, jwks, uri), uri


def update_client(client: Client, changes: ClientChanges, *, caller: Caller,
                  settings: Settings | None = None) -> Client:  # fmt: skip
    """Apply ``changes`` by the rules of registration (the same validators). ``settings`` is
    needed when a change names a URL the server fetches (its outbound rules apply)."""
    require_can_act_on(caller, client, action="changing")

    def policy() -> OutboundPolicy:
        if settings is None:
            raise TypeError("update_client: settings are needed to check a URL the server fetches")
        return OutboundPolicy.from_settings(settings)

    if changes.grant_types is not None:
        client.grant_types = _checked_grant_types(changes.grant_types, public=client.is_public)
    method = client.token_endpoint_auth_method
    if changes.auth_method is not None:
        given = changes.jwks is not None or bool(changes.jwks_uri)
        held = bool(client.jwks or client.jwks_uri)
        method = _check_auth_method(client, changes.auth_method, has_keys=given or held)
    keys_change = changes.jwks is not None or changes.jwks_uri is not None
    if keys_change or method != client.token_endpoint_auth_method:
        client.jwks, client.jwks_uri = _changed_keys(policy, client, changes, method)
    client.token_endpoint_auth_method = method
    if changes.name is not None:
        name = changes.name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name: 1 to 200 characters")
        client.name = name
    if changes.scope is not None:
        client.scope = validate_scope(changes.scope)
    if changes.redirect_uris is not None:
        client.redirect_uris = _validate_redirect_uris(changes.redirect_uris, "redirect_uri")
    if "authorization_code" in client.grant_types and not client.redirect_uris:
        raise InvalidInput("redirect_uri: the authorization_code grant needs at least one")
    if changes.post_logout_redirect_uris is not None:
        client.post_logout_redirect_uris = _validate_redirect_uris(
            changes.post_logout_redirect_uris, "post_logout_redirect_uri"
        )
    if changes.skip_consent is not None:
        client.skip_consent = changes.skip_consent
    if changes.require_par is not None:
        client.require_pushed_authorization_requests = changes.require_par
    if changes.require_dpop is not None:
        client.dpop_bound_access_tokens = changes.require_dpop
    if changes.backchannel_logout_uri is not None:
        uri = changes.backchannel_logout_uri.strip()
        if uri != (client.backchannel_logout_uri or ""):
            client.backchannel_logout_uri = _backchannel_uri(policy(), uri) if uri else None
    if changes.resources is not None:
        client.resources = _resources(changes.resources)
    if changes.id_token_alg is not None:
        client.id_token_signed_response_alg = _id_token_alg(changes.id_token_alg)
    quotas = {}
    for field in ("token_quota", "introspection_quota"):
        value = getattr(changes, field)
        if value is not None:
            quotas[field] = _quota(value, field)
            setattr(client, field, quotas[field])
    _check_consent_skip(caller, client)
    record(Tag.CLIENT_UPDATED, actor=caller.actor, client=client.client_id, **quotas)
    db.session.flush()
    return client


def clients_matching(text: str = ""):  # noqa: ANN201
    """Clients whose name or client_id contains ``text`` (case-insensitively, ``%`` and ``_``
    taken literally), as ``accounts.service.users_matching`` finds users; every client for an
    empty one. A statement, for the caller to order and bound."""
    from sqlalchemy import false, or_

    statement = select(Client)
    wanted = text.strip()[:200]
    if not wanted:
        return statement
    if "\x00" in wanted:  # no client holds one (PostgreSQL would refuse the text)
        return statement.where(false())
    pattern = containing(wanted)
    return statement.where(
        or_(
            Client.name.ilike(pattern, escape=ESCAPE),
            Client.client_id.ilike(pattern, escape=ESCAPE),
        )
    )
