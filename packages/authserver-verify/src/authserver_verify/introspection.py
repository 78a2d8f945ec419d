"""Asking the issuer about a token (RFC 7662), for APIs that must honour revocation at once or
accept opaque tokens and API keys, with a small cache of answers.

    introspector = Introspector("https://id.example.com/oauth/introspect", "api", "secret",
                                audience="https://api.example.com")
    claims = introspector.require_active(token, scopes=["orders:read"])

``require_active`` refuses what an introspection answer alone cannot vouch for: a token for
another audience (API keys carry none and are accepted by scope), and a DPoP-bound token
(``cnf.jkt``, RFC 9449 §7.2: it must come with a proof of its key, which
``ResourceServer.authenticate(..., dpop=True)`` checks for JWTs). An API key's IP allow-list is
the issuer's to apply where it sees the key's user; an introspection answer does not carry it.

An active answer is remembered for ``positive_ttl_seconds`` (never past the token's ``exp``), an
inactive one for ``negative_ttl_seconds``: a revocation reaches this API within the positive
time-to-live (0 asks every time). Tokens are remembered by their SHA-256, never in the clear.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.client
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable

from authserver_verify import json_input
from authserver_verify.errors import InsufficientScope, IntrospectionUnavailable, InvalidToken

_MAX_ANSWER = 64 * 1024


def _http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    if not url.startswith(("https://", "http://")):
        raise ValueError("the introspection URL must be http(s)")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return response.status, response.read(_MAX_ANSWER + 1)
    except urllib.error.HTTPError as e:
        return e.code, b""


def _basic(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: each part form-encoded before they are joined and base64-encoded.
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class Introspector:
    def __init__(
        self,
        endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        audience: str | None = None,
        positive_ttl_seconds: float = 10.0,
        negative_ttl_seconds: float = 5.0,
        max_entries: int = 10_000,
        timeout_seconds: float = 5.0,
        post: Callable[[str, bytes, dict[str, str], float], tuple[int, bytes]] = _http_post,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.audience = audience
        self._authorization = _basic(client_id, client_secret)
        self.positive_ttl_seconds = positive_ttl_seconds
        self.negative_ttl_seconds = negative_ttl_seconds
        self.max_entries = max_entries
        self.timeout_seconds = timeout_seconds
        self._post = post
        self._monotonic = monotonic
        self._now = now
        self._answers: OrderedDict[bytes, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()
        self.requests = 0

    def introspect(self, token: str) -> dict:
        """The issuer's answer (``{"active": false}`` or the token's claims), from the cache
        while it is fresh; IntrospectionUnavailable when the issuer cannot be asked."""
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            cached = self._answers.get(key)
            if cached is not None and cached[0] > self._monotonic():
                self._answers.move_to_end(key)
                return copy.deepcopy(cached[1])  # a caller's change must not change the cache
        answer = self._ask(token)
        ttl = self.positive_ttl_seconds if answer["active"] else self.negative_ttl_seconds
        expires = answer.get("exp")
        if answer["active"] and isinstance(expires, int | float):
            ttl = min(ttl, expires - self._now())
        if ttl > 0:
            with self._lock:
                self._answers[key] = (self._monotonic() + ttl, answer)
                self._answers.move_to_end(key)
                while len(self._answers) > self.max_entries:
                    self._answers.popitem(last=False)
        return copy.deepcopy(answer)

    def require_active(self, token: str, scopes: Iterable[str] = ()) -> dict:
        """The claims of an active token granting ``scopes``, or a TokenVerificationError."""
        answer = self.introspect(token)
        if not answer["active"]:
            raise InvalidToken("the token is not active")
        if (answer.get("cnf") or {}).get("jkt") or str(answer.get("token_type")) == "DPoP":
            raise InvalidToken("a DPoP-bound token must be sent with its proof")
        if self.audience is not None and "aud" in answer:
            audiences = answer["aud"] if isinstance(answer["aud"], list) else [answer["aud"]]
            if self.audience not in audiences:
                raise InvalidToken("the token is for another audience")
        missing = set(scopes) - set(str(answer.get("scope", "")).split())
        if missing:
            raise InsufficientScope(f"missing scope: {' '.join(sorted(missing))}")
        return answer

    def _ask(self, token: str) -> dict:
        body = urllib.parse.urlencode({"token": token}).encode()
        headers = {"Authorization": self._authorization, "Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        try:
            self.requests += 1
            status, raw = self._post(self.endpoint, body, headers, self.timeout_seconds)
        except (OSError, ValueError, http.client.HTTPException):
            # The reason stays here: its text (addresses, TLS details) is not the caller's.
            raise IntrospectionUnavailable(
                "the introspection endpoint could not be asked"
            ) from None
        if status != 200 or len(raw) > _MAX_ANSWER:
            raise IntrospectionUnavailable(f"the introspection endpoint answered {status}")
        try:
            answer = json_input.loads(raw)
        except ValueError:
            raise IntrospectionUnavailable("the introspection answer is not JSON") from None
        # RFC 7662 §2.2: "active" is the one required member, a boolean.
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise IntrospectionUnavailable("the introspection answer has no boolean active")
        return answer
