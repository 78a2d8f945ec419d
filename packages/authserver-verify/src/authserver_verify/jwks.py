"""The issuer's JWK Set, cached as its ``Cache-Control`` and ``ETag`` say."""

from __future__ import annotations

import email.utils
import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authserver_verify import json_input
from authserver_verify.errors import JWKSUnavailable, UnknownKey

#: Asymmetric algorithms only: never "none", never an HMAC keyed with a public key.
ALLOWED_ALGORITHMS = ("ES256", "RS256", "Ed25519")


def _http_get(url: str, etag: str | None, timeout: float) -> tuple[int, dict[str, str], bytes]:
    # Only http(s): urllib would also open file: and ftp: URLs.
    if not url.startswith(("https://", "http://")):
        raise ValueError("the JWKS URL must be http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    if etag:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return 304, dict(e.headers), b""
        raise


class JWKSCache:
    """A JWKS that honours ``Cache-Control: max-age`` and ``ETag``, refreshes on an unknown
    kid at most once per ``min_refresh_seconds``, and keeps serving the last good set while
    the issuer is unreachable."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        min_refresh_seconds: float = 10.0,
        default_max_age_seconds: float = 300.0,
        timeout_seconds: float = 5.0,
        fetch: Callable[[str, str | None, float], tuple[int, dict[str, str], bytes]] = _http_get,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_uri = jwks_uri
        self.min_refresh_seconds = min_refresh_seconds
        self.default_max_age_seconds = default_max_age_seconds
        self.timeout_seconds = timeout_seconds
        self._fetch = fetch
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._has_set = False
        self._etag: str | None = None
        self._fresh_until = float("-inf")
        self._last_attempt = float("-inf")
        self.fetches = 0

    def get(self, kid: str) -> Any:
        """The key for ``kid``; raises UnknownKey or JWKSUnavailable."""
        with self._lock:
            now = self._monotonic()
            if now >= self._fresh_until:
                self._refresh(now)
            elif kid not in self._keys and now - self._last_attempt >= self.min_refresh_seconds:
                self._refresh(now)
            if not self._has_set:
                raise JWKSUnavailable("the issuer's JWKS could not be fetched")
            key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(f"no published key with kid {kid!r}")
        return key

    def _refresh(self, now: float) -> None:
        self._last_attempt = now
        try:
            status, headers, body = self._fetch(self.jwks_uri, self._etag, self.timeout_seconds)
            self.fetches += 1
            if status == 304 and self._has_set:
                self._fresh_until = now + self._max_age(headers)
                return
            if status != 200:
                raise OSError(f"JWKS answered {status}")
            keys = self._parse(body)
        # http.client.HTTPException (a reply that is not HTTP, a short body) is no OSError.
        except (OSError, ValueError, JoseError, http.client.HTTPException):
            # Keep the last good set; try again after the minimum interval.
            self._fresh_until = now + self.min_refresh_seconds
            return
        self._keys = keys
        self._has_set = True
        self._etag = _header(headers, "ETag")
        self._fresh_until = now + self._max_age(headers)

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any]:
        # Depth-limited: a deeply nested document was a RecursionError, not a bad JWKS.
        document = json_input.loads(body)
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("not a JWK Set")
        keys = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            kid, alg = entry.get("kid"), entry.get("alg")
            if not isinstance(kid, str) or alg not in ALLOWED_ALGORITHMS:
                continue
            keys[kid] = (alg, KeySet.import_key_set({"keys": [entry]}).keys[0])
        return keys

    def _max_age(self, headers: dict[str, str]) -> float:
        cache_control = _header(headers, "Cache-Control") or ""
        for directive in cache_control.split(","):
            name, _, value = directive.strip().partition("=")
            if name.lower() == "max-age" and value.strip().isdigit():
                return float(value)
            if name.lower() in ("no-store", "no-cache"):
                return 0.0
        expires = _header(headers, "Expires")
        if expires:
            try:
                return max(
                    0.0, email.utils.parsedate_to_datetime(expires).timestamp() - time.time()
                )
            except (TypeError, ValueError):
                pass
        return self.default_max_age_seconds


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
