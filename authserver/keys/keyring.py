"""The per-process key ring: which keys sign and verify, cached and refreshed cheaply.

Workers must notice a change of keys (another process rotated or revoked one) without a
restart, but re-reading and decrypting keys on every request would waste the token
endpoint's budget. The ring re-reads the small public part of ``signing_keys`` (and the
schedules, which fix the JWKS max-age) at most every ``keyring_refresh_seconds`` and
decrypts a private key only the first time it signs. Losing this cache is always safe.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from joserfc import jwk
from sqlalchemy import select

from authserver.keys.kek import Envelope, KekError
from authserver.keys.schedule import jwks_max_age, load_schedules
from authserver.keys.service import import_public_key, load_private_key
from authserver.models.signing_key import PUBLISHED_STATES, VERIFYING_STATES, KeyState, SigningKey
from authserver.platform.config import Settings
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db


class NoActiveKey(AuthServerError):
    """No key may sign for an algorithm (the active one was revoked, its replacement is being
    published): the server cannot issue tokens for a moment; 503 with Retry-After."""

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__("temporarily_unavailable", description, 503)
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    id: int
    kid: str
    alg: str
    state: str
    public_jwk: dict


class VerifiedTokens:
    """Tokens whose signature this process has already checked, with their claims, until they
    expire: introspecting or presenting the same token again skips the ES256/RS256 verify.

    Keyed by the whole token string, so only the very same bytes hit. An entry is served only
    while its key is still honoured (a revoked key ends its tokens at once) and before ``exp``;
    revocation of the token itself is checked by the caller, as for a token read afresh."""

    # About 2 kB each (the token and its claims): at most about 40 MB a worker.
    MAX_ENTRIES = 20_000

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._entries: dict[str, tuple[str, dict]] = {}

    def get(self, token: str, now: int) -> dict | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        kid, claims = entry
        if claims["exp"] <= now or self._keyring.verification_key(kid) is None:
            self._entries.pop(token, None)
            return None
        return dict(claims)

    def put(self, token: str, kid: str, claims: dict) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries = {}  # bounded memory; the next reads refill it
        self._entries[token] = (kid, dict(claims))


class KeyRing:
    def __init__(self, settings: Settings, envelope: Callable[..., Envelope]) -> None:
        self.verified_tokens = VerifiedTokens(self)
        self._settings = settings
        self._envelope = envelope
        self._max_age = 0
        self._lock = threading.Lock()
        self._keys: dict[str, KeyInfo] = {}
        self._loaded_at = float("-inf")
        self._private: dict[str, jwk.Key] = {}
        self._public: dict[str, jwk.Key] = {}

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def _current(self) -> dict[str, KeyInfo]:
        if time.monotonic() - self._loaded_at >= self._settings.keyring_refresh_seconds:
            rows = db.session.execute(
                select(
                    SigningKey.id,
                    SigningKey.kid,
                    SigningKey.alg,
                    SigningKey.state,
                    SigningKey.public_jwk,
                ).where(SigningKey.state.in_([s.value for s in PUBLISHED_STATES]))
            ).all()
            keys = {r.kid: KeyInfo(r.id, r.kid, r.alg, r.state, r.public_jwk) for r in rows}
            max_age = jwks_max_age(self._settings, list(load_schedules(self._settings).values()))
            with self._lock:
                self._keys = keys
                self._max_age = max_age
                # forget private keys that no longer sign
                self._private = {
                    kid: k
                    for kid, k in self._private.items()
                    if kid in keys and keys[kid].state == KeyState.ACTIVE
                }
                self._loaded_at = time.monotonic()
        return self._keys

    def jwks_max_age(self) -> int:
        self._current()
        return self._max_age

    def snapshot(self) -> object:
        """An object that changes identity whenever the key ring reloads."""
        return self._current()

    def published(self) -> list[KeyInfo]:
        return sorted(self._current().values(), key=lambda k: (k.alg, k.id))

    def signer(self, alg: str) -> tuple[str, jwk.Key]:
        """(kid, private key) of the one active key for ``alg``."""
        for info in self._current().values():
            if info.alg == alg and info.state == KeyState.ACTIVE:
                key = self._private.get(info.kid)
                if key is None:
                    row = db.session.get(SigningKey, info.id)
                    try:
                        key = load_private_key(self._envelope(), row)
                    except KekError:
                        # Re-wrapped under a KEK this process has not read yet (kek rotate).
                        key = load_private_key(self._envelope(reload=True), row)
                    self._private[info.kid] = key
                return info.kid, key
        raise NoActiveKey(f"no {alg} signing key is active yet; try again shortly",
                          self._settings.emergency_publish_seconds)  # fmt: skip

    def verification_key(self, kid: str) -> tuple[str, jwk.Key] | None:
        """(alg, public key) for a kid whose signatures are honoured, else None."""
        info = self._current().get(kid)
        if info is None or info.state not in VERIFYING_STATES:
            return None
        key = self._public.get(kid)
        if key is None:
            key = import_public_key(info.public_jwk)
            self._public[kid] = key
        return info.alg, key
