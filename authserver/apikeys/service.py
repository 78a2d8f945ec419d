"""API keys: issue, rotate with a grace period, revoke, authenticate. One set of rules for the
CLI, the admin API and the admin UI.

The full key exists in plain text only in what ``create``/``rotate`` return: the caller shows
it once. Lookups go by the public key id; the secret is compared as an HMAC in constant time.
A malformed key, a wrong checksum, an unknown id, a wrong secret, an expired or revoked key
all fail alike and write nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import ipaddress
import logging

from sqlalchemy import Select, bindparam, false, func, or_, select, update

from authserver.apikeys import format as keyformat
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import ApiKey, Client, RolePermission, User, client_roles, user_roles
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.errors import Conflict, InvalidInput, NotFound
from authserver.platform.extensions import db
from authserver.platform.ip_privacy import minimised_ip
from authserver.platform.revocation_cache import RevocationCache
from authserver.platform.security import hash_secret
from authserver.platform.text_search import ESCAPE, containing
from authserver.rbac.containment import (
    Caller,
    NotPermitted,
    permissions_of,
    require_can_act_on,
    require_can_confer,
)
from authserver.rbac.scopes import validate_scope

log = logging.getLogger(__name__)

#: `last_used_at` is written at most this often per key, so hot keys do not write per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
NEVER = "never"


@dataclasses.dataclass(frozen=True)
class NewApiKey:
    owner: User | Client
    scopes: tuple[str, ...]
    name: str = ""
    description: str = ""
    # Seconds, None for the default, or NEVER.
    expires_in: int | str | None = None
    allowed_cidrs: tuple[str, ...] = ()


def _expires_at(settings: Settings, expires_in: int | str | None) -> dt.datetime | None:
    if expires_in == NEVER:
        if not settings.apikey_allow_never:
            raise InvalidInput("expires_in: keys that never expire are not allowed by policy")
        return None
    seconds = settings.apikey_default_ttl_seconds if expires_in is None else int(expires_in)
    if seconds <= 0:
        raise InvalidInput("expires_in: must be positive")
    if seconds > settings.apikey_max_ttl_seconds:
        raise InvalidInput(
            f"expires_in: at most {settings.apikey_max_ttl_seconds // 86400} days by policy"
        )
    return clock.now() + dt.timedelta(seconds=seconds)


def _check_scopes(owner: User | Client, scopes: tuple[str, ...]) -> str:
    scope = validate_scope(" ".join(scopes))
    if not scope:
        raise InvalidInput("scope: an API key needs at least one scope")
    beyond = set(scope.split()) - permissions_of(owner)
    if beyond:
        # A key never grants more than its owner holds through its roles.
        raise InvalidInput(f"scope: the owner does not hold {' '.join(sorted(beyond))}")
    return scope


def _check_cidrs(cidrs: tuple[str, ...]) -> list[str]:
    checked = []
    for cidr in cidrs:
        try:
            checked.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise InvalidInput(f"allowed_cidrs: {cidr!r} is not an IP network") from None
    return checked


def _issue(
    settings: Settings, spec: NewApiKey, expires_at: dt.datetime | None
) -> tuple[str, ApiKey]:
    plaintext, parts = keyformat.generate(settings.apikey_prefix)
    key = ApiKey(
        key_id=parts.key_id,
        prefix=parts.prefix,
        secret_hash=hash_secret(parts.secret),
        last4=plaintext[-4:],
        name=spec.name.strip()[:200],
        description=spec.description[:2000],
        owner_user_id=spec.owner.id if isinstance(spec.owner, User) else None,
        owner_client_pk=spec.owner.id if isinstance(spec.owner, Client) else None,
        scope=_check_scopes(spec.owner, spec.scopes),
        allowed_cidrs=_check_cidrs(spec.allowed_cidrs),
        created_at=clock.now(),
        expires_at=expires_at,
    )
    db.session.add(key)
    db.session.flush()
    return plaintext, key


def _check_caller(caller: Caller, owner: User | Client, scopes: tuple[str, ...],
                  action: str) -> None:  # fmt: skip
    """Whoever gets a key's secret acts as its owner with its scopes: the caller must hold
    the scopes and may act on the owner (no escalation through somebody else's key)."""
    require_can_act_on(caller, owner, action=action)
    require_can_confer(caller, scopes, action=action, target=f"an API key of {owner_name(owner)}")


def owner_name(owner: User | Client) -> str:
    return f"user {owner.email}" if isinstance(owner, User) else f"client {owner.client_id}"


def create_api_key(settings: Settings, spec: NewApiKey, *, caller: Caller) -> tuple[str, ApiKey]:
    """(the full key, shown once; the stored key)."""
    if not spec.owner.is_active:
        raise InvalidInput("owner: is disabled")
    _check_caller(caller, spec.owner, spec.scopes, "issuing an API key for")
    plaintext, key = _issue(settings, spec, _expires_at(settings, spec.expires_in))
    record(Tag.APIKEY_CREATED, actor=caller.actor, key_id=key.key_id, owner=key.subject,
           scope=key.scope)  # fmt: skip
    return plaintext, key


def find_api_key(key_id: str) -> ApiKey | None:
    return db.session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


def _get(key_id: str) -> ApiKey:
    key = find_api_key(key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    return key


def rotate_api_key(
    settings: Settings, key_id: str, *, grace_seconds: int, caller: Caller
) -> tuple[str, ApiKey]:
    """A new key with the same properties; the old one keeps working for ``grace_seconds``."""
    old = _get(key_id)
    _check_caller(caller, old.owner_user or old.owner_client, tuple(old.scope.split()),
                  "rotating an API key of")  # fmt: skip
    now = clock.now()
    if not old.is_usable_at(now):
        raise Conflict(f"API key {key_id} is revoked, expired or its owner is disabled")
    if old.replaced_by_key_id is not None:
        raise Conflict(f"API key {key_id} was already rotated to {old.replaced_by_key_id}")
    if grace_seconds < 0:
        raise InvalidInput("grace: must not be negative")
    lifetime = None if old.expires_at is None else old.expires_at - old.created_at
    spec = NewApiKey(
        owner=old.owner_user or old.owner_client,
        scopes=tuple(old.scope.split()),
        name=old.name,
        description=old.description,
        allowed_cidrs=tuple(old.allowed_cidrs),
    )
    expires_at = None if lifetime is None else now + lifetime
    plaintext, new = _issue(settings, spec, expires_at)
    grace_end = now + dt.timedelta(seconds=grace_seconds)
    old.expires_at = grace_end if old.expires_at is None else min(old.expires_at, grace_end)
    old.replaced_by_key_id = new.key_id
    db.session.flush()
    record(
        Tag.APIKEY_ROTATED,
        actor=caller.actor,
        key_id=old.key_id,
        new_key_id=new.key_id,
        grace_seconds=grace_seconds,
    )
    return plaintext, new


def revoke_api_key(key_id: str, *, reason: str = "", caller: Caller) -> ApiKey:
    key = _get(key_id)
    require_can_act_on(caller, key.owner_user or key.owner_client, action="revoking an API key of")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        key.revoked_reason = reason[:1000]
        db.session.flush()
        record(Tag.APIKEY_REVOKED, actor=caller.actor, key_id=key.key_id, reason=reason)
    return key


def revoke_keys_of(owner: User | Client, *, reason: str, actor: str) -> int:
    """Disabling or deleting an owner revokes every key it holds."""
    column = ApiKey.owner_user_id if isinstance(owner, User) else ApiKey.owner_client_pk
    keys = db.session.scalars(select(ApiKey).where(column == owner.id, ApiKey.revoked_at.is_(None)))
    count = 0
    for key in keys:
        key.revoked_at = clock.now()
        key.revoked_reason = reason
        record(Tag.APIKEY_REVOKED, actor=actor, key_id=key.key_id, reason=reason)
        count += 1
    db.session.flush()
    return count


def offerable_scopes(caller: Caller, owner: User | Client) -> tuple[tuple[str, ...], str | None]:
    """(the scopes a key of ``owner`` made by ``caller`` may carry, why none may) by the rules
    ``create_api_key`` applies: an active owner the caller may act on (no escalation), and of its
    permissions those the caller may confer. For a face to offer choices; it decides nothing."""
    if not owner.is_active:
        return (), f"{owner_name(owner)} is disabled: a disabled owner gets no keys."
    try:
        require_can_act_on(caller, owner, action="issuing an API key for")
    except NotPermitted as e:
        return (), e.description
    held = sorted(permissions_of(owner))
    return tuple(p for p in held if not caller.lacks([p])), None


def owner_ref(owner: User | Client) -> str:
    """How the faces name a key's owner in a query: ``user:<subject>`` or ``client:<client_id>``."""
    return f"user:{owner.subject}" if isinstance(owner, User) else f"client:{owner.client_id}"


def owner_by_ref(ref: str) -> User | Client | None:
    """The user (not erased) or client, active or not, that ``owner_ref`` named."""
    kind, _, name = (ref or "").strip().partition(":")
    if not name or len(name) > 64 or "\x00" in name:  # no subject or client_id is
        return None
    if kind == "user":
        return db.session.scalar(select(User).where(User.subject == name, User.erased_at.is_(None)))
    if kind == "client":
        return db.session.scalar(select(Client).where(Client.client_id == name))
    return None


#: The states a key is listed in, as ``key_state`` names them and the list filters take them.
KEY_STATES = ("active", "rotated", "expired", "revoked")


def key_state(key: ApiKey, now: dt.datetime) -> str:
    """Revoked, else expired, else rotated (its replacement made, its grace running), else
    active: the order ``_in_state`` follows in SQL."""
    if key.revoked_at is not None:
        return "revoked"
    if key.is_expired_at(now):
        return "expired"
    if key.replaced_by_key_id is not None:
        return "rotated"
    return "active"


def _in_state(state: str, now: dt.datetime) -> tuple:
    if state == "revoked":
        return (ApiKey.revoked_at.is_not(None),)
    if state == "expired":
        return (ApiKey.revoked_at.is_(None), ApiKey.expires_at <= now)
    live = (ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))
    if state == "rotated":
        return (*live, ApiKey.replaced_by_key_id.is_not(None))
    if state == "active":
        return (*live, ApiKey.replaced_by_key_id.is_(None))
    raise InvalidInput(f"state: one of {', '.join(KEY_STATES)}")


def api_keys_matching(
    text: str = "", *, state: str | None = None, owner: str | None = None
) -> Select:
    """Keys whose name, key id, owner's email or owner's client_id contains ``text``
    (case-insensitively), in ``state`` (one of ``KEY_STATES``), of the owner ``owner`` names
    (``owner_ref``); every key when all are empty. A statement, for the caller to page."""
    conditions = list(_in_state(state, clock.now())) if state else []
    if owner:
        kind, _, name = owner.partition(":")
        column = {"user": User.subject, "client": Client.client_id}.get(kind)
        if column is None or not name:
            raise InvalidInput("owner: user:<id> or client:<client_id>")
        conditions.append(column == name)
    wanted = text.strip()[:320]
    if wanted:
        pattern = containing(wanted)
        conditions.append(or_(*(column.ilike(pattern, escape=ESCAPE)
                                for column in (ApiKey.name, ApiKey.key_id, User.email,
                                               Client.client_id))))  # fmt: skip
    if "\x00" in wanted or "\x00" in (owner or ""):  # no column holds one (PostgreSQL refuses)
        conditions = [false()]
    return (
        select(ApiKey)
        .outerjoin(User, User.id == ApiKey.owner_user_id)
        .outerjoin(Client, Client.id == ApiKey.owner_client_pk)
        .where(*conditions)
    )


def list_api_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


#: A live key made longer ago than this and not used since is listed as unused.
UNUSED_AFTER = dt.timedelta(days=30)


def unused_keys(now: dt.datetime, after: dt.timedelta = UNUSED_AFTER):  # noqa: ANN201
    """Live keys (not revoked, rotated nor expired) made more than ``after`` ago and not used
    since: candidates for revoking. A statement, for the caller to page."""
    cutoff = now - after
    return select(ApiKey).where(
        ApiKey.revoked_at.is_(None),
        ApiKey.replaced_by_key_id.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        ApiKey.created_at <= cutoff,
        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < cutoff),
    )


def usable_scope(key_scope: str, owner_permissions: set[str] | frozenset[str]) -> str:
    """What a key grants when it is used: its scopes narrowed by what its owner's roles permit
    now (order kept). Every face that accepts a key sees it through this one function."""
    return " ".join(s for s in key_scope.split() if s in owner_permissions)


@dataclasses.dataclass(frozen=True)
class PresentedKey:
    """What the admin API, introspection and exchange need of a usable API key, read as plain
    columns: no ORM objects on a path that runs for every presented key (the ORM load was most
    of its cost). ``scope`` is already narrowed by the owner's current roles."""

    id: int
    key_id: str
    scope: str
    subject: str
    owner_client_id: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    allowed_cidrs: tuple[str, ...]
    owner_user_pk: int | None
    # The gateway's limits (gateway/limits.py): buckets, and whether a quota is to be spent.
    rate_limit: str | None = None
    quota_limit: int | None = None

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())


def check_presented_key(
    settings: Settings, presented: str, memory: RevocationCache | None = None
) -> PresentedKey | None:
    """The usable key ``presented`` names, or None; reads only, writes nothing. Two queries (the
    key with its owner, the owner's permissions), and the answer remembered in ``memory`` (by
    key id and the secret's HMAC, never the secret) until the key, its owner, a role or the
    cache's TTL says otherwise."""
    parts = keyformat.parse(presented, settings.apikey_prefix)
    if parts is None:
        return None
    candidate = hash_secret(parts.secret)
    lookup = (parts.key_id, candidate)
    now = clock.now()
    if memory is not None:
        known = memory.known_key(lookup)
        if known is not None and (known.expires_at is None or now < known.expires_at):
            return known
        generation = memory.generation()
    row = db.session.execute(_FACTS_BY_KEY_ID, {"key_id": parts.key_id}).first()
    if not _hash_matches(candidate, row.secret_hash if row is not None else None):
        return None
    owner_active = row.user_active if row.user_subject is not None else row.client_active
    if row.revoked_at is not None or not owner_active:
        return None
    if row.expires_at is not None and now >= row.expires_at:
        return None
    if row.owner_user_id is not None:
        held = db.session.scalars(_USER_PERMISSIONS, {"owner": row.owner_user_id})
    else:
        held = db.session.scalars(_CLIENT_PERMISSIONS, {"owner": row.owner_client_pk})
    facts = PresentedKey(
        id=row.id,
        key_id=row.key_id,
        scope=usable_scope(row.scope, set(held)),
        subject=row.user_subject if row.user_subject is not None else row.client_id,
        owner_client_id=row.client_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        allowed_cidrs=tuple(row.allowed_cidrs or ()),
        owner_user_pk=row.owner_user_id,
        rate_limit=row.rate_limit,
        quota_limit=row.quota_limit,
    )
    if memory is not None:
        memory.remember_key(lookup, facts, generation)
    return facts


def _hash_matches(candidate: str, stored_hash: str | None) -> bool:
    if stored_hash is None:
        # Same work as a real comparison, so an unknown id costs what a wrong secret costs.
        hmac.compare_digest(candidate, candidate)
        return False
    return hmac.compare_digest(candidate, stored_hash)


_FACTS_BY_KEY_ID = (
    select(
        ApiKey.id,
        ApiKey.key_id,
        ApiKey.secret_hash,
        ApiKey.scope,
        ApiKey.created_at,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.allowed_cidrs,
        ApiKey.rate_limit,
        ApiKey.quota_limit,
        ApiKey.owner_user_id,
        ApiKey.owner_client_pk,
        User.subject.label("user_subject"),
        User.is_active.label("user_active"),
        Client.client_id,
        Client.is_active.label("client_active"),
    )
    .outerjoin(User, User.id == ApiKey.owner_user_id)
    .outerjoin(Client, Client.id == ApiKey.owner_client_pk)
    .where(ApiKey.key_id == bindparam("key_id"))
)


_USER_PERMISSIONS = (
    select(RolePermission.permission)
    .join(user_roles, user_roles.c.role_id == RolePermission.role_id)
    .where(user_roles.c.user_id == bindparam("owner"))
)
_CLIENT_PERMISSIONS = (
    select(RolePermission.permission)
    .join(client_roles, client_roles.c.role_id == RolePermission.role_id)
    .where(client_roles.c.client_pk == bindparam("owner"))
)


def ip_allowed(key: ApiKey | PresentedKey, remote_addr: str | None) -> bool:
    if not key.allowed_cidrs:
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr) for cidr in key.allowed_cidrs)


# When this process last recorded each key's use (by key id): a key remembered by introspection
# carries no last-use time, and one write attempt per key, process and minute is enough.
_noted_use: dict[str, dt.datetime] = {}


def note_use(key: ApiKey | PresentedKey, remote_addr: str | None) -> None:
    """Best effort: record last use at most once a minute, on its own connection, so that
    neither the request's transaction nor its outcome depends on it."""
    now = clock.now()
    last = max(
        (t for t in (getattr(key, "last_used_at", None), _noted_use.get(key.key_id)) if t),
        default=None,
    )
    if last is not None and dt.timedelta(0) <= now - last < LAST_USED_RESOLUTION:
        return
    if len(_noted_use) >= 100_000:
        _noted_use.clear()
    _noted_use[key.key_id] = now
    cutoff = now - LAST_USED_RESOLUTION
    try:
        with db.engine.begin() as conn:
            conn.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id)
                .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < cutoff))
                .values(last_used_at=now, last_used_ip=(minimised_ip(remote_addr) or "")[:64])
            )
    except Exception:  # noqa: BLE001 - never fail a request over a usage timestamp
        log.warning("could not record the last use of API key %s", key.key_id)


def _live_and_expiring_within(window: dt.timedelta):  # noqa: ANN202
    now = clock.now()
    return (
        ApiKey.revoked_at.is_(None),
        ApiKey.replaced_by_key_id.is_(None),
        ApiKey.expires_at.is_not(None),
        ApiKey.expires_at > now,
        ApiKey.expires_at <= now + window,
    )


def count_expiring(settings: Settings) -> int:
    """Live keys that expire within the warning window."""
    window = dt.timedelta(seconds=settings.apikey_expiry_warning_seconds)
    return db.session.scalar(
        select(func.count()).select_from(ApiKey).where(*_live_and_expiring_within(window))
    )


def expiring_keys(within: dt.timedelta) -> list[ApiKey]:
    """Live keys that expire within ``within``, soonest first."""
    return list(
        db.session.scalars(
            select(ApiKey).where(*_live_and_expiring_within(within)).order_by(ApiKey.expires_at)
        )
    )


#: Keys warned per scheduler run: a bounded transaction however many keys fall due at once (the
#: rest, soonest first, go on the next runs, every AUTHSERVER_KEY_ROTATION_CHECK_INTERVAL).
WARN_BATCH = 500


def warn_expiring(settings: Settings, batch: int = WARN_BATCH) -> list[ApiKey]:
    """Raise the expiry warning once per key, N days before it expires."""
    now = clock.now()
    horizon = now + dt.timedelta(seconds=settings.apikey_expiry_warning_seconds)
    keys = list(
        db.session.scalars(
            select(ApiKey)
            .where(
                ApiKey.revoked_at.is_(None),
                ApiKey.expiry_warned_at.is_(None),
                ApiKey.replaced_by_key_id.is_(None),
                ApiKey.expires_at.is_not(None),
                ApiKey.expires_at > now,
                ApiKey.expires_at <= horizon,
            )
            .order_by(ApiKey.expires_at)
            .limit(batch)
        )
    )
    for key in keys:
        key.expiry_warned_at = now
        record(Tag.APIKEY_EXPIRING, key_id=key.key_id, owner=key.subject, expires_at=key.expires_at)
    db.session.flush()
    return keys


def is_expiring_soon(settings: Settings, key: ApiKey) -> bool:
    if key.expires_at is None or key.revoked_at is not None:
        return False
    remaining = key.expires_at - clock.now()
    return (
        dt.timedelta(0) < remaining <= dt.timedelta(seconds=settings.apikey_expiry_warning_seconds)
    )
