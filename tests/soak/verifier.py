"""A downstream verifier in its own process, for the rotation soak test.

Reads one access token per line on stdin, verifies it with ``authserver.verify`` against the
live JWKS, and writes ``ok`` or ``fail <ExceptionName>`` per line. Unknown-kid refreshes are
effectively disabled, so only the schedule (publish-ahead vs. max-age) can keep it right.
"""

from __future__ import annotations

import sys

from authserver_verify import JWKSCache, TokenVerificationError, verify_access_token


def main() -> None:
    jwks_uri, issuer, audience = sys.argv[1:4]
    jwks = JWKSCache(jwks_uri, min_refresh_seconds=3600)
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        try:
            verify_access_token(token, jwks=jwks, issuer=issuer, audience=audience)
            print("ok", flush=True)
        except TokenVerificationError as e:
            print(f"fail {type(e).__name__}", flush=True)
    print(f"fetches {jwks.fetches}", flush=True)


if __name__ == "__main__":
    main()
