"""Where a request's time goes: one endpoint driven in-process under cProfile.

Seeds a fresh SQLite database through the CLI (as `bench/run.py` does), then calls the WSGI app
directly with a prebuilt environ (no HTTP server, no test client), so the profile holds only our
code, Flask, Werkzeug, Authlib and the database.

    .venv/bin/python bench/hotpath.py token          # client_credentials, JWT ES256
    .venv/bin/python bench/hotpath.py introspect     # introspection of that JWT
    .venv/bin/python bench/hotpath.py apikey | jwks | discovery | revoke | exchange
    .venv/bin/python bench/hotpath.py token --requests 5000 --sort cumulative --top 40
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import API_KEY_TOKEN_TYPE, SCOPE, TOKEN_EXCHANGE, Server, _basic  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "endpoint",
        choices=["token", "introspect", "apikey", "jwks", "discovery", "revoke", "exchange"],
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="authserver-profile-") as tmp:
        server = Server(Path(tmp), f"sqlite:///{tmp}/auth.db", workers=1, threads=1)
        seed = server.seed()
        os.environ.update(server.env)
        from authserver.app import create_app

        app = create_app()
        call = _request(app, args.endpoint, seed)
        for _ in range(200):  # warm caches, key objects, the connection pool
            call()
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests):
            call()
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"{args.endpoint}: {args.requests / elapsed:,.0f} req/s in-process under cProfile")
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
        started = time.perf_counter()
        for _ in range(args.requests):
            call()
        elapsed = time.perf_counter() - started
        print(f"{args.endpoint}: {args.requests / elapsed:,.0f} req/s in-process, no profiler")


def _request(app, endpoint: str, seed: dict):  # noqa: ANN001, ANN202
    auth = _basic(seed["client_id"], seed["secret"])
    if endpoint == "jwks":
        return _caller(app, "GET", "/.well-known/jwks.json")
    if endpoint == "discovery":
        return _caller(app, "GET", "/.well-known/openid-configuration")
    token_body = f"grant_type=client_credentials&scope={SCOPE}"
    if endpoint == "token":
        return _caller(app, "POST", "/oauth/token", token_body, auth)
    if endpoint == "exchange":
        body = (f"grant_type={TOKEN_EXCHANGE}&subject_token={seed['key']}"
                f"&subject_token_type={API_KEY_TOKEN_TYPE}")  # fmt: skip
        return _caller(app, "POST", "/oauth/token", body, auth)
    if endpoint == "apikey":
        body = f"token={seed['key']}&token_type_hint=api_key"
    else:
        import json

        status, out = _caller(app, "POST", "/oauth/token", token_body, auth, keep=True)()
        body = f"token={json.loads(out)['access_token']}&token_type_hint=access_token"
    path = "/oauth/revoke" if endpoint == "revoke" else "/oauth/introspect"
    return _caller(app, "POST", path, body, auth)


def _caller(app, method, path, body="", auth=None, keep=False):  # noqa: ANN001, ANN202
    data = body.encode()
    base = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_HOST": "127.0.0.1",
    }
    if data:
        base["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        base["CONTENT_LENGTH"] = str(len(data))
    if auth:
        base["HTTP_AUTHORIZATION"] = auth

    def call():  # noqa: ANN202
        environ = dict(base, **{"wsgi.input": io.BytesIO(data)})
        status = []
        chunks = app(environ, lambda s, h, exc=None: status.append(s))
        out = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        if not status[0].startswith("200"):
            raise SystemExit(f"{method} {path}: {status[0]} {out[:300]!r}")
        return (status[0], out) if keep else None

    return call


if __name__ == "__main__":
    main()
