"""The two published documents, serialised once: the JWKS (RFC 7517 §5) per key-ring reload and
the server metadata (RFC 8414, OpenID Connect Discovery) per process, each with its ETag."""

from __future__ import annotations

import functools
import hashlib
import json

from authserver.keys.jwks import SerializedJwks
from authserver.keys.keyring import KeyRing
from authserver.oauth.discovery import server_metadata
from authserver.platform.config import Settings

JWKS_MEDIA_TYPE = "application/jwk-set+json"
METADATA_MEDIA_TYPE = "application/json"

_jwks = SerializedJwks()


def jwks_document(keyring: KeyRing) -> tuple[bytes, str, int]:
    """(body, ETag, max-age): what a verifier needs to cache the key set correctly."""
    body, etag = _jwks.get(keyring)
    return body, etag, keyring.jwks_max_age()


@functools.lru_cache(maxsize=8)
def metadata_document(settings: Settings) -> tuple[bytes, str]:
    # Settings are fixed for the life of an app: serialise its document once.
    body = json.dumps(server_metadata(settings)).encode()
    return body, hashlib.sha256(body).hexdigest()[:32]
