"""DPoP (RFC 9449) at this server: proofs at the token endpoint bind access tokens (``cnf.jkt``,
``token_type: DPoP``) and public clients' refresh tokens to the client's key; UserInfo accepts
``Authorization: DPoP`` with a proof carrying ``ath``.

A proof's ``jti`` is accepted once (Redis ``SET NX`` when Redis is configured, else a table
row), for as long as its ``iat`` is acceptable. While Redis is unreachable the table takes its
place, and for as long as a proof stays acceptable after Redis answers again both are asked (a
jti accepted by the table during the outage is not new to the server once Redis is back).
With ``AUTHSERVER_DPOP_NONCE`` the server also
demands a nonce it made (§8): an HMAC of the current five-minute window under the pepper, so
every worker agrees without shared state; the previous window's nonce is still accepted.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from authlib.oauth2.rfc6749 import OAuth2Error
from authserver_verify.dpop import MAX_AGE_SECONDS, InvalidProof, Proof, check_proof
from flask import Request, Response, current_app
from sqlalchemy import delete, insert

from authserver.models import DpopProof
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.redis_link import RedisUnavailable
from authserver.platform.request_state import request_state
from authserver.platform.runtime import runtime_of
from authserver.platform.security import hash_secret
from authserver.single_use import insert_apart

HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"
_NONCE_WINDOW_SECONDS = 300


class InvalidDPoPProofError(OAuth2Error):
    error = "invalid_dpop_proof"


class UseDPoPNonceError(OAuth2Error):
    error = "use_dpop_nonce"


def _nonce(settings: Settings, window: int) -> str:
    pepper = runtime_of(current_app).pepper()
    mac = hmac.new(pepper, f"authserver:dpop-nonce:{window}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def current_nonce(settings: Settings) -> str:
    return _nonce(settings, clock.timestamp() // _NONCE_WINDOW_SECONDS)


def _nonce_ok(settings: Settings, nonce: str | None) -> bool:
    if not nonce:
        return False
    window = clock.timestamp() // _NONCE_WINDOW_SECONDS
    return any(hmac.compare_digest(nonce, _nonce(settings, w)) for w in (window, window - 1))


def with_nonce(response: Response, settings: Settings) -> Response:
    if settings.dpop_nonce:
        response.headers[NONCE_HEADER] = current_nonce(settings)
    return response


def _first_use(settings: Settings, jti: str) -> bool:
    """True the first time this proof jti is seen (within its acceptable lifetime)."""
    ttl = MAX_AGE_SECONDS + settings.clock_skew_seconds + 5
    key = hash_secret("dpop-jti:" + jti)
    link = runtime_of(current_app).redis
    if link is not None:
        try:
            first = link.run(
                lambda client: client.set(f"authserver:dpop:{key}", b"1", nx=True, ex=ttl)
            )
        except RedisUnavailable:
            return _first_use_in_database(key, ttl)
        if not first:
            return False
        if not link.degraded_within(ttl):
            return True
    return _first_use_in_database(key, ttl)


def _first_use_in_database(key: str, ttl: int) -> bool:
    # RFC 9449 §11.1: a proof is accepted once, whatever becomes of the request it came with;
    # so the jti is committed on its own, not in the request's transaction (which a failed
    # request, or one that writes nothing, such as UserInfo, never commits).
    now = clock.now()
    return insert_apart(
        insert(DpopProof).values(jti_hash=key, expires_at=now + dt.timedelta(seconds=ttl)),
        prune=delete(DpopProof).where(DpopProof.expires_at <= now),
    )


def check_request(
    settings: Settings,
    request: Request,
    url: str,
    access_token: str | None = None,
    method: str | None = None,
) -> Proof | None:
    """The request's verified DPoP proof, None without one; raises the §7/§8 errors.
    ``method`` and ``url`` are those the proof must name (``htm``, ``htu``): a gateway's
    original request's, when the gateway asks on its behalf."""
    proofs = request.headers.getlist(HEADER)
    if not proofs:
        return None
    if len(proofs) > 1:
        raise InvalidDPoPProofError(description="One DPoP header only.")
    try:
        proof = check_proof(
            proofs[0],
            method=method or request.method,
            url=url,
            now=clock.timestamp(),
            leeway=settings.clock_skew_seconds,
            access_token=access_token,
        )
    except InvalidProof as e:
        raise InvalidDPoPProofError(description=str(e)) from None
    if settings.dpop_nonce and not _nonce_ok(settings, proof.nonce):
        raise UseDPoPNonceError(description="Use the DPoP-Nonce the server sent.")
    if not _first_use(settings, proof.jti):
        raise InvalidDPoPProofError(description="This DPoP proof was used already.")
    return proof


def bound_key() -> str | None:
    """The thumbprint of this token request's DPoP key, if it sent a proof."""
    return request_state().dpop_jkt
