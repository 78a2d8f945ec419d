"""JWT access tokens (RFC 9068): issuing them with exactly the active key, and reading them back.

Authlib's ``JWTBearerTokenGenerator`` writes no ``kid`` and hands joserfc a key set, from
which joserfc would pick a random key; ours signs with the one active key of the configured
algorithm and names it in the header, and reads time from ``authserver.platform.clock``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import bindparam, delete, or_, select

from authserver.keys.compact import sign_jwt
from authserver.keys.keyring import KeyRing
from authserver.models import ApiKey, RevokedAccessToken, User
from authserver.oauth.dpop import InvalidDPoPProofError, bound_key
from authserver.oauth.refresh_tokens import new_refresh_token
from authserver.oauth.resources import granted_resources, policy_for
from authserver.platform import clock
from authserver.platform.acr import acr_of
from authserver.platform.config import Settings
from authserver.platform.current_request import client_address
from authserver.platform.extensions import db
from authserver.platform.metrics import tokens_issued, tokens_signed
from authserver.platform.request_state import request_state
from authserver.platform.revocation_cache import note_revoked
from authserver.platform.runtime import current_runtime
from authserver.platform.token_types import EXCHANGED_KEY_CLAIM
from authserver.rbac.service import grantable_scope
from authserver.single_use import add_once
from authserver.usage import TOKENS_ISSUED, usage_counter

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068 §2.1


class AccessTokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, settings: Settings, keyring: KeyRing) -> None:
        super().__init__(
            issuer=settings.issuer,
            alg=settings.access_token_alg,
            refresh_token_generator=new_refresh_token,
            expires_generator=lambda client, grant_type: settings.access_token_ttl_seconds,
        )
        self.settings = settings
        self.keyring = keyring

    def generate(
        self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True
    ):  # noqa: ANN001, ANN201
        # The scope granted = asked ∩ registered for the client ∩ permitted to the subject
        # (the user, or the client itself when there is none) through its roles.
        subject = user if user is not None else client
        scope = grantable_scope(client.get_allowed_scope(scope), subject.permissions)
        # OIDC Core §11: in an OpenID request a refresh token needs the offline_access scope.
        granted = set(scope.split())
        if "openid" in granted and "offline_access" not in granted:
            include_refresh_token = False
        jkt = bound_key()
        if getattr(client, "dpop_bound_access_tokens", False) and jkt is None:
            raise InvalidDPoPProofError(description="This client's tokens need a DPoP proof.")
        # RFC 8707: a resource may have its own lifetime (and algorithm, below).
        expires_in = self._lifetime(client, grant_type, user)
        token = super().generate(grant_type, client, user, scope, expires_in, include_refresh_token)
        # RFC 6749 §5.1: the granted scope, always, even when it is narrower than asked.
        token["scope"] = scope
        if jkt is not None:
            token["token_type"] = "DPoP"  # noqa: S105 - RFC 9449 §5
        tokens_issued.labels(grant_type).inc()
        usage_counter(current_app).count(TOKENS_ISSUED)
        if self.settings.audit_token_issuance:
            _audit_issuance(grant_type, client, user, scope)
        return token

    def get_allowed_scope(self, client, scope) -> str:  # noqa: ANN001
        # ``generate`` has narrowed it already; asking the client again would turn an empty
        # grant back into "everything registered" (an omitted scope).
        return scope or ""

    def get_audiences(self, client, user, scope) -> str | list[str]:  # noqa: ANN001
        resources = granted_resources()
        if not resources:
            return self.settings.audience
        return resources[0] if len(resources) == 1 else list(resources)

    def _lifetime(self, client, grant_type: str, user=None) -> int:  # noqa: ANN001
        policy = policy_for(self.settings, granted_resources())
        lifetime = policy.ttl_seconds or self._get_expires_in(client, grant_type)
        key_expires = getattr(user, "api_key_expires_at", None)
        if key_expires is not None:
            # An exchanged API key's token ends when the key does: no cache or offline
            # verifier can then outlive it.
            lifetime = max(1, min(lifetime, int(key_expires.timestamp()) - clock.timestamp()))
        return lifetime

    def access_token_generator(self, client, grant_type, user, scope) -> str:  # noqa: ANN001
        now = clock.timestamp()
        claims = {
            "iss": self.issuer,
            # RFC 9068 §2.2: without a resource owner, sub identifies the client.
            "sub": str(user.get_user_id()) if user else client.get_client_id(),
            "aud": self.get_audiences(client, user, scope),
            "exp": now + self._lifetime(client, grant_type, user),
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": client.get_client_id(),
            "scope": scope or "",
            "roles": list((user if user is not None else client).role_names),
        }
        key_id = getattr(user, "api_key_id", None)
        if key_id is not None:  # an exchanged API key (RFC 8693): its limits go with it
            claims[EXCHANGED_KEY_CLAIM] = key_id
        jkt = bound_key()
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1
        state = request_state()
        authentication = state.authentication if user is not None else None
        if authentication is not None:
            # RFC 9068 §2.2.1: how the user authenticated, for resource servers that care.
            claims["auth_time"], claims["amr"] = authentication
            claims["acr"] = acr_of(claims["amr"])
        alg = policy_for(self.settings, granted_resources()).alg or self.alg
        kid, key = self.keyring.signer(alg)
        token = sign_jwt(ACCESS_TOKEN_TYP, alg, kid, key, claims)
        state.issued_jti = claims["jti"]
        tokens_signed.labels(alg, kid).inc()
        return token


def _audit_issuance(grant_type: str, client, user, scope: str) -> None:  # noqa: ANN001
    """Queued, not written: the token endpoint does not wait on the audit chain's lock."""
    from authserver.audit.background import background_audit
    from authserver.audit.tags import Tag
    from authserver.platform.ip_privacy import minimised_ip
    from authserver.platform.request_id import current_request_id

    background_audit(current_app).submit(
        Tag.TOKEN_ISSUED,
        actor=f"client:{client.get_client_id()}",
        grant_type=grant_type,
        subject=user.get_user_id() if user is not None else client.get_client_id(),
        scope=scope,
        jti=request_state().issued_jti,
        ip=minimised_ip(client_address()),
        # A token issued to a person: their device's address is theirs (sealed, erasable).
        about=user.get_user_id() if user is not None else None,
        request_id=current_request_id(),
    )


@dataclasses.dataclass
class AccessToken:
    """A verified access token as introspection, revocation and resource endpoints see it."""

    claims: dict
    # Filled in by the resource endpoints that need them (UserInfo).
    client: object = None
    user: object = None

    @property
    def scope(self) -> str:
        return self.claims.get("scope", "")

    def get_scope(self) -> str:
        return self.scope

    def get_client(self):  # noqa: ANN201
        return self.client

    def get_user(self):  # noqa: ANN201
        return self.user

    @property
    def jti(self) -> str:
        return self.claims["jti"]

    @property
    def client_id(self) -> str:
        return self.claims["client_id"]

    def is_expired(self) -> bool:
        return self.claims["exp"] <= clock.timestamp()

    def is_revoked(self) -> bool:
        """Revoked, or no longer backed by an active client and user: a token of a client or
        user disabled since it was issued is not active (RFC 7662 §2.2), wherever it is
        presented. Remembered per process as one answer, forgotten when a revocation or a
        user's or client's change commits anywhere (revocation_cache)."""
        cache = current_runtime().revocations
        if cache.known_unrevoked(self.jti):
            return False
        generation = cache.generation()
        revoked = not self._holders_active()
        if not revoked:
            cache.remember_unrevoked(self.jti, generation)
        return revoked

    def _holders_active(self) -> bool:
        clients = current_runtime().clients
        client = clients.get(self.client_id)
        if client is None or self._issued_before(client.tokens_valid_after):  # or disabled
            return False
        key_id = self.claims.get(EXCHANGED_KEY_CLAIM)
        if key_id is not None and not self._key_usable(key_id):
            return False  # exchanged for an API key (RFC 8693) since revoked or expired
        subject = self.claims["sub"]
        if subject == self.client_id:
            return db.session.execute(_REVOKED, {"jti": self.jti}).first() is None
        row = db.session.execute(_REVOKED_OR_USER, {"jti": self.jti, "sub": subject}).one()
        if row.revoked is not None:
            return False
        if row.user_active is not None:
            return bool(row.user_active) and not self._issued_before(_seconds(row.valid_after))
        # Not a user: the owner client of an exchanged API key (RFC 8693).
        owner = clients.get(subject)
        return owner is not None and not self._issued_before(owner.tokens_valid_after)

    @staticmethod
    def _key_usable(key_id: str) -> bool:
        found = db.session.execute(_KEY_USABLE, {"key_id": key_id, "now": clock.now()})
        return found.first() is not None

    def _issued_before(self, valid_after: int | None) -> bool:
        # Whole seconds, as iat is: a token of the same second as the change is kept (a token
        # issued right after a password change must work).
        return valid_after is not None and self.claims["iat"] < valid_after

    def check_client(self, client) -> bool:  # noqa: ANN001
        return self.client_id == client.get_client_id()


def _seconds(when: dt.datetime | None) -> int | None:
    if when is None:
        return None
    return int((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp())


# Built once, and a bare row instead of an ORM object: this runs on every introspection.
_REVOKED = select(RevokedAccessToken.jti).where(RevokedAccessToken.jti == bindparam("jti"))
_REVOKED_OR_USER = select(
    _REVOKED.scalar_subquery().label("revoked"),
    select(User.is_active).where(User.subject == bindparam("sub")).scalar_subquery()
    .label("user_active"),
    select(User.tokens_valid_after).where(User.subject == bindparam("sub")).scalar_subquery()
    .label("valid_after"),
)  # fmt: skip

# The API key a token was exchanged for, while it may still be used.
_KEY_USABLE = select(ApiKey.id).where(
    ApiKey.key_id == bindparam("key_id"), ApiKey.revoked_at.is_(None),
    or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > bindparam("now")),
)  # fmt: skip

_REQUIRED_CLAIMS = ("iss", "sub", "exp", "iat", "jti", "client_id")


#: The claim that marks the gateway's identity token (``authserver.gateway.endpoint``).
GATEWAY_CLAIM = "gateway"


def read_access_token(token: str, settings: Settings, keyring: KeyRing) -> AccessToken | None:
    """The token if this server signed it with a key it still honours, else None.

    Expiry and revocation are left to the caller (``is_expired``/``is_revoked``): revocation
    must still find an expired-but-recent token harmless, introspection must answer inactive.
    """
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
        return None
    known = keyring.verified_tokens.get(token, clock.timestamp())
    if known is not None:
        return AccessToken(known)
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
        kid = header.get("kid")
        if header.get("typ") != ACCESS_TOKEN_TYP or not isinstance(kid, str):
            return None
        found = keyring.verification_key(kid)
        if found is None:
            return None
        alg, key = found
        if header.get("alg") != alg:
            return None
        decoded = jwt.decode(token, key, algorithms=[alg])
    except (JoseError, ValueError, UnicodeError, TypeError):
        return None
    claims = dict(decoded.claims)
    if any(name not in claims for name in _REQUIRED_CLAIMS):
        return None
    if claims["iss"] != settings.issuer or not isinstance(claims["exp"], int):
        return None
    if GATEWAY_CLAIM in claims:
        # The identity token /gateway/check hands an upstream: for that upstream to read,
        # never a credential here (not bound, not revocable; an upstream could replay it).
        return None
    keyring.verified_tokens.put(token, kid, claims)
    return AccessToken(claims)


def is_for(claims: dict, audience: str) -> bool:
    """RFC 9068 §4: a resource server accepts only tokens whose ``aud`` names it."""
    aud = claims.get("aud")
    return aud == audience or (isinstance(aud, list) and audience in aud)


def revoke_access_token(token: AccessToken) -> bool:
    """Remember the jti until the token expires (RFC 7009 §2). False when it was already
    revoked: then nothing is written (a client that revokes the same token again costs one
    indexed read, and takes no write lock)."""
    if db.session.execute(_REVOKED, {"jti": token.jti}).first() is not None:
        return False
    return remember_revoked(token.jti, dt.datetime.fromtimestamp(token.claims["exp"], tz=dt.UTC))


def remember_revoked(jti: str, expires_at: dt.datetime) -> bool:
    """Add the jti to the revoked ones, in the caller's transaction; False if it was there (the
    same token revoked at once by another request). Now and then forget the expired ones."""
    _prune_expired_now_and_then()
    if not add_once(RevokedAccessToken.__table__, jti=jti, expires_at=expires_at):
        return False
    note_revoked(jti)
    return True


#: How often a process forgets expired revocations. Pruning on every revocation put a DELETE
#: inside every revocation's write lock (bench/README.md, "Revocation under mixed load").
PRUNE_EVERY = dt.timedelta(minutes=1)
_last_prune: list[dt.datetime] = []


def _prune_expired_now_and_then() -> None:
    now = clock.now()
    if _last_prune and dt.timedelta(0) <= now - _last_prune[0] < PRUNE_EVERY:
        return
    _last_prune[:] = [now]
    db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= now))
