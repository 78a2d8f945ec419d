"""One API's view of authserver's tokens: which issuer and audience it accepts, and how a
request's credentials are checked (the scheme, the token, a DPoP proof and its replay), so that
each framework's adapter only reads the request and writes the refusal."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

from authserver_verify.dpop import MAX_AGE_SECONDS, InvalidProof, check_proof
from authserver_verify.errors import InsufficientScope, InvalidToken, TokenVerificationError
from authserver_verify.jwks import JWKSCache
from authserver_verify.tokens import verify_access_token


@dataclasses.dataclass(frozen=True)
class Refusal:
    """What to answer a refused request: RFC 6750 §3 (the challenge says why)."""

    status: int
    headers: dict[str, str]
    body: dict[str, str]


class _SeenProofs:
    """DPoP proof jtis this process accepted recently (RFC 9449 §11.1), at most ``limit``.

    Every entry lives as long, so the oldest is always the first to expire: expired ones are
    dropped from the front, and when full the oldest goes (a proof that old is past its
    ``iat`` window anyway, or the flood that filled the table is its sender's own)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first_use(self, jti: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._until and next(iter(self._until.values())) <= now:
                self._until.popitem(last=False)
            if jti in self._until:
                return False
            if len(self._until) >= self._limit:
                self._until.popitem(last=False)
            self._until[jti] = now + ttl
            return True


class ResourceServer:
    """An API that accepts access tokens of ``issuer`` for ``audience``.

    ``jwks`` defaults to the issuer's published set (``/.well-known/jwks.json``).
    ``public_url`` is the API's own base URL as its clients call it (``https://api.example.com``,
    its scheme and host): a DPoP proof's ``htu`` is checked against it and the request's path,
    never against the ``Host`` header a client chose, and a TLS-terminating proxy in front does
    not change it. Without it the adapters use the URL the framework reports."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks: JWKSCache | None = None,
        public_url: str | None = None,
        leeway_seconds: int = 30,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks or JWKSCache(issuer.rstrip("/") + "/.well-known/jwks.json")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.leeway_seconds = leeway_seconds
        self._now = now
        self._seen = _SeenProofs()

    def verify(self, token: str, scopes: Iterable[str] = ()) -> dict:
        """The claims of a valid token granting ``scopes``, or a TokenVerificationError."""
        return verify_access_token(
            token, jwks=self.jwks, issuer=self.issuer, audience=self.audience,
            required_scopes=scopes, leeway_seconds=self.leeway_seconds, now=self._now,
        )  # fmt: skip

    def authenticate(
        self,
        *,
        authorization: str | None,
        dpop_proof: str | None,
        method: str,
        url: str,
        scopes: Iterable[str] = (),
        dpop: bool = False,
    ) -> dict:
        """The claims for a request's ``Authorization`` (and ``DPoP``) headers.

        With ``dpop`` the token must come as ``Authorization: DPoP`` with a proof of its key for
        this method and URL, used once (RFC 9449 §7); without, a DPoP-bound token is refused as
        a Bearer token (§7.2)."""
        scheme_name = "DPoP" if dpop else "Bearer"
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != scheme_name.lower() or not token:
            raise InvalidToken(f"a {scheme_name} token is required")
        claims = self.verify(token, scopes)
        bound = (claims.get("cnf") or {}).get("jkt")
        if not dpop:
            if bound:
                raise InvalidToken("a DPoP-bound token must be sent with its proof")
            return claims
        if dpop_proof is not None and "," in dpop_proof:
            raise InvalidToken("DPoP proof: more than one DPoP header")  # RFC 9449 §4.3 (1)
        if self.public_url is not None:
            path = urlsplit(url).path or "/"
            url = urlunsplit((*urlsplit(self.public_url)[:2], path, "", ""))
        try:
            proof = check_proof(dpop_proof or "", method=method, url=url,
                                now=int(self._now()), access_token=token)  # fmt: skip
        except InvalidProof as e:
            raise InvalidToken(f"DPoP proof: {e}") from None
        if not bound or proof.jkt != bound:
            raise InvalidToken("the DPoP proof is not from the token's key")
        if not self._seen.first_use(proof.jti, MAX_AGE_SECONDS + 10):
            raise InvalidToken("the DPoP proof was used already")
        return claims


def refusal_for(
    error: TokenVerificationError, scopes: Iterable[str] = (), *, dpop: bool = False
) -> Refusal:
    """RFC 6750 §3: the challenge names the scheme, the error and, for a missing scope, the
    scopes the resource needs."""
    challenge = f'{"DPoP" if dpop else "Bearer"} error="{error.error}"'
    if isinstance(error, InsufficientScope):
        challenge += f', scope="{" ".join(scopes)}"'
    return Refusal(
        status=error.status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        body={"error": error.error, "error_description": str(error)},
    )
