"""Who is calling a resource endpoint of this server (the admin API, client registration):
``Authorization: Bearer`` with an access token from this server or an API key, or
``Authorization: DPoP`` with a DPoP-bound token and its proof (RFC 9449 §7.1: a bound token is
refused as Bearer); a 401 carries ``WWW-Authenticate`` as RFC 6750 §3 describes."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from authserver_verify.dpop import ALGORITHMS as DPOP_ALGORITHMS
from flask import current_app, request

from authserver.accounts.service import find_user_by_subject
from authserver.apikeys import format as keyformat
from authserver.apikeys.service import check_presented_key, ip_allowed, note_use
from authserver.oauth.dpop import check_request
from authserver.oauth.tokens import AccessToken, is_for, read_access_token
from authserver.platform.acr import ACR_MFA
from authserver.platform.runtime import runtime_of
from authserver.rbac.containment import Caller
from authserver.web.problems import TITLES, Problem

REALM = 'realm="authserver"'


def challenges(error: str | None = None, description: str = "") -> str:
    """Both schemes this API takes (RFC 6750 §3, RFC 9449 §7.1), the error on each."""
    detail = f', error="{error}", error_description="{description}"' if error else ""
    algs = " ".join(DPOP_ALGORITHMS)
    return f'Bearer {REALM}{detail}, DPoP {REALM}, algs="{algs}"{detail}'


def _unauthorized(error: str | None = None, description: str = "") -> Problem:
    return Problem(
        401, TITLES[401], description or "A bearer token or API key is required.",
        headers={"WWW-Authenticate": challenges(error, description)},
    )  # fmt: skip


def authenticate() -> Caller:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not credentials:
        # RFC 6750 §3.1: no error code when the request carried no credentials.
        raise _unauthorized()
    runtime = runtime_of(current_app)
    settings = runtime.settings
    if scheme == "bearer" and keyformat.looks_like_key(credentials, settings.apikey_prefix):
        key = check_presented_key(settings, credentials, runtime.revocations)
        if key is None or not ip_allowed(key, request.remote_addr):
            raise _unauthorized("invalid_token", "The API key is not valid.")
        note_use(key, request.remote_addr)
        # A key never grants more than its owner holds today (usable_scope).
        return Caller(f"apikey:{key.key_id}", frozenset(key.scopes))
    token = read_access_token(credentials, settings, runtime.keyring)
    if token is None or token.is_expired() or token.is_revoked():
        # is_revoked: also a token whose client or user has been disabled since.
        raise _unauthorized("invalid_token", "The access token is not valid.")
    if not is_for(token.claims, settings.audience):
        # A token for another resource (RFC 8707) is not a token for this API.
        raise _unauthorized("invalid_token", "The access token is for another audience.")
    _check_sender(token, scheme, credentials)
    claims = token.claims
    if claims["sub"] == claims["client_id"]:
        return Caller(f"client:{claims['client_id']}", frozenset(token.scope.split()))
    _check_user_authentication(claims)
    return Caller(f"user:{claims['sub']}", frozenset(token.scope.split()))


def _check_sender(token: AccessToken, scheme: str, credentials: str) -> None:
    """RFC 9449 §7.1: a DPoP-bound token (``cnf.jkt``) works only as ``DPoP`` with a proof of
    its key for this request (``htm``, ``htu``, ``ath``); §7.2: never as a Bearer token."""
    jkt = (token.claims.get("cnf") or {}).get("jkt")
    if jkt is None and scheme == "bearer":
        return
    if jkt is None:
        raise _unauthorized("invalid_token", "The access token is not DPoP-bound.")
    if scheme == "bearer":
        raise _unauthorized("invalid_token", "A DPoP-bound token needs the DPoP scheme.")
    settings = runtime_of(current_app).settings
    try:
        proof = check_request(settings, request, settings.url(request.path), credentials)
    except OAuth2Error as e:
        raise _unauthorized("invalid_dpop_proof", e.description or "") from None
    if proof is None:
        raise _unauthorized("invalid_dpop_proof", "A DPoP proof is required.")
    if proof.jkt != jkt:
        raise _unauthorized("invalid_dpop_proof", "The proof is not signed by the token's key.")


def _check_user_authentication(claims: dict) -> None:
    """A user whose role requires MFA acts here only with a token from an MFA sign-in
    (RFC 9470 §3: ``insufficient_user_authentication`` names the acr to come back with)."""
    user = find_user_by_subject(claims["sub"])
    if user is None or not user.is_active:
        raise _unauthorized("invalid_token", "The access token's user is not active.")
    amr = claims.get("amr")
    if user.requires_mfa and not (isinstance(amr, list) and "mfa" in amr):
        description = "A role of this user requires signing in with a second factor."
        raise Problem(
            401, TITLES[401], description,
            headers={"WWW-Authenticate": (
                f'Bearer {REALM}, error="insufficient_user_authentication", '
                f'error_description="{description}", acr_values="{ACR_MFA}"'
            )},
        )  # fmt: skip
