"""Where a request's time goes: one endpoint driven in-process under cProfile.

Seeds a fresh SQLite database through the CLI (as `bench/run.py` does), then calls the WSGI app
directly with a prebuilt environ (no HTTP server, no test client), so the profile holds only our
code, Flask, Werkzeug, Authlib and the database.

    .venv/bin/python bench/hotpath.py token          # client_credentials, JWT ES256
    .venv/bin/python bench/hotpath.py introspect     # introspection of that JWT
    .venv/bin/python bench/hotpath.py apikey | jwks | discovery | revoke | exchange
    .venv/bin/python bench/hotpath.py gateway        # /gateway/check for that JWT (nginx headers)
    .venv/bin/python bench/hotpath.py gateway-apikey | gateway-limited   # for an API key; with a
                                                     # rate limit (bench/run.py's scenarios)
    .venv/bin/python bench/hotpath.py token --requests 5000 --sort cumulative --top 40
    .venv/bin/python bench/hotpath.py gateway --breakdown   # wall time per step, no cProfile

``--breakdown`` times the steps of a request (Flask's request cycle, the front door, and the
gateway view's parts) with a clock around each function instead of cProfile, which inflates
call-heavy code unevenly; prometheus_client counts to files as under `authserver serve`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402
    API_KEY_TOKEN_TYPE,
    GATEWAY_ORIGINAL,
    GATEWAY_PATH,
    SCOPE,
    TOKEN_EXCHANGE,
    Server,
    _basic,
)

ENDPOINTS = ["token", "introspect", "apikey", "jwks", "discovery", "revoke", "exchange",
             "gateway", "gateway-apikey", "gateway-limited"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", choices=ENDPOINTS)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--breakdown", action="store_true", help="wall time per step instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="authserver-profile-") as tmp:
        server = Server(Path(tmp), f"sqlite:///{tmp}/auth.db", workers=1, threads=1)
        seed = server.seed()
        if args.endpoint.startswith("gateway"):
            seed.update(server.seed_gateway(seed))
        os.environ.update(server.env)
        if args.breakdown:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(dir=tmp)
        from authserver.app import create_app

        app = create_app()
        call = _request(app, args.endpoint, seed)
        for _ in range(200):  # warm caches, key objects, the connection pool
            call()
        if args.breakdown:
            _breakdown(app, call, args.endpoint, args.requests)
            return
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


def _breakdown(app, call, endpoint: str, requests: int) -> None:  # noqa: ANN001
    """Wall time per request, then per step: each step's function wrapped in a clock."""
    quiet = open(os.devnull, "w")  # noqa: SIM115 - the access lines, not wanted here
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        started = time.perf_counter()
        for _ in range(requests):
            call()
        plain = (time.perf_counter() - started) / requests
        spent, labels = _timers(app)
        started = time.perf_counter()
        for _ in range(requests):
            call()
        timed = (time.perf_counter() - started) / requests
    print(f"{endpoint}: {plain * 1e6:.0f} µs a request in-process ({1 / plain:,.0f} req/s); "
          f"{timed * 1e6:.0f} µs with the clocks below")  # fmt: skip
    for label in labels:
        if spent[label]:
            each = spent[label] / requests
            print(f"  {label:<52} {each * 1e6:6.1f} µs  {each / timed:4.0%}")


def _timers(app) -> tuple[collections.Counter, list[str]]:  # noqa: ANN001
    """Wrap each step's function in a clock that adds to ``spent`` under its label."""
    from flask.ctx import RequestContext

    from authserver.gateway import decision, door, endpoint
    from authserver.platform import front_door
    from authserver.platform.front_door import FrontDoor

    steps = [
        (app, "request_context", "flask: request context (the Request object)"),
        (RequestContext, "push", "flask: push (app context, session, URL match)"),
        (app.session_interface, "open_session", "  of which opening the session"),
        (app, "preprocess_request", "flask: before_request hooks"),
        (door, "decide", "the decision, gateway.endpoint.decide"),
        (decision, "original_request", "  the original request from the headers"),
        (endpoint, "first_match", "  the rule (first_match)"),
        (decision, "presented", "  the credential's header (presented)"),
        (decision, "check_credential", "  check_credential"),
        (decision, "read_access_token", "    read_access_token"),
        (decision, "check_presented_key", "    check_presented_key"),
        (decision, "check_rule", "  check_rule"),
        (endpoint, "limits_of", "  limits_of"),
        (endpoint, "charge", "  charge (buckets, quota)"),
        (endpoint, "note_use", "  note_use"),
        (endpoint, "_allow", "  _allow (X-Auth-* headers, then _finish)"),
        (endpoint, "_finish", "    _finish (decision metric, usage count)"),
        (app, "process_response", "flask: after_request hooks, saving the session"),
        (app.session_interface, "save_session", "  of which saving the session"),
        (FrontDoor, "count_and_log", "  front door: request metrics, access line"),
        (front_door, "observe_request", "    the request metrics"),
        (front_door, "write_access_line", "    the access line, on the request's thread"),
        (FrontDoor, "add_headers", "  front door: fixed headers"),
        (RequestContext, "pop", "flask: pop (teardown)"),
        (app.response_class, "__call__", "werkzeug: the response's WSGI headers"),
    ]
    spent: collections.Counter = collections.Counter()
    for owner, name, label in steps:
        step = getattr(owner, name)

        def timed(*args, _step=step, _label=label, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            try:
                return _step(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - started

        setattr(owner, name, timed)
    return spent, [label for _, _, label in steps]


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
    if endpoint == "gateway-apikey":
        return _caller(app, "GET", GATEWAY_PATH, headers={**GATEWAY_ORIGINAL,
                       "X-API-Key": seed["key"]})  # fmt: skip
    if endpoint == "gateway-limited":
        return _caller(app, "GET", GATEWAY_PATH, headers={**GATEWAY_ORIGINAL,
                       "X-API-Key": seed["limited_key"]})  # fmt: skip
    if endpoint == "apikey":
        body = f"token={seed['key']}&token_type_hint=api_key"
    else:
        import json

        status, out = _caller(app, "POST", "/oauth/token", token_body, auth, keep=True)()
        token = json.loads(out)["access_token"]
        if endpoint == "gateway":
            return _caller(app, "GET", GATEWAY_PATH, auth=f"Bearer {token}",
                           headers=GATEWAY_ORIGINAL)  # fmt: skip
        body = f"token={token}&token_type_hint=access_token"
    path = "/oauth/revoke" if endpoint == "revoke" else "/oauth/introspect"
    return _caller(app, "POST", path, body, auth)


def _caller(app, method, path, body="", auth=None, keep=False, headers=None):  # noqa: ANN001, ANN202
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
    for name, value in (headers or {}).items():
        base["HTTP_" + name.upper().replace("-", "_")] = value

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
