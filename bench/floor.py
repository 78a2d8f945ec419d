"""The floor: the least a client_credentials token request and an introspection need, as a bare
WSGI app, to measure what the WSGI server, CPython and the ES256 signature leave room for.

Not a server anyone should run: one hard-coded client, tokens remembered per worker. It reads and
parses the form, decodes the Basic credentials, compares an HMAC-SHA256 of the secret in constant
time, mints and signs an ES256 JWT (header encoded once), and answers JSON.

    cd bench && ../.venv/bin/granian --interface wsgi floor:app --workers 2 \\
        --blocking-threads 4 --port 8791 --no-ws
    WRK_METHOD=POST WRK_BODY='grant_type=client_credentials&scope=api' \\
        WRK_AUTH="Basic $(printf 'client:s3cret' | base64)" \\
        wrk -t2 -c32 -d8s -s ../../shared/bench/peers/wrk/request.lua \\
        http://127.0.0.1:8791/oauth/token
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import parse_qsl, unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_PEPPER = secrets.token_bytes(32)
_STORED = hmac.new(_PEPPER, b"s3cret", hashlib.sha256).hexdigest()
_KEY = ec.generate_private_key(ec.SECP256R1())
_KNOWN: dict[str, dict] = {}


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADER = _b64(json.dumps({"typ": "at+jwt", "alg": "ES256", "kid": "k"}).encode())


def _authenticated(environ: dict) -> bool:
    _, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    user, _, password = base64.b64decode(credentials).decode().partition(":")
    digest = hmac.new(_PEPPER, unquote(password).encode(), hashlib.sha256).hexdigest()
    return user == "client" and hmac.compare_digest(digest, _STORED)


def _token(form: dict) -> dict:
    now = int(time.time())
    claims = {"iss": "http://floor", "sub": "client", "aud": "http://floor", "exp": now + 300,
              "iat": now, "jti": secrets.token_urlsafe(16), "client_id": "client",
              "scope": form.get("scope", ""), "roles": []}  # fmt: skip
    signing_input = _HEADER + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(_KEY.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    token = (signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()
    if len(_KNOWN) > 10_000:
        _KNOWN.clear()
    _KNOWN[token] = claims
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": claims["scope"]}  # fmt: skip


def app(environ: dict, start_response):  # noqa: ANN201
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    form = dict(parse_qsl(body.decode()))
    if not _authenticated(environ):
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"error":"invalid_client"}']
    if environ["PATH_INFO"] == "/oauth/token":
        answer = _token(form)
    else:
        claims = _KNOWN.get(form.get("token", ""))
        answer = {"active": True, **claims} if claims else {"active": False}
    out = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                              ("Content-Length", str(len(out)))])  # fmt: skip
    return [out]
