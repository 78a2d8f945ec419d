"""deploy/gateway/'s recipes served for real: one `authserver serve` deciding, a small upstream
API that echoes what reached it, and Debian's nginx (deploy/gateway/nginx.conf, over TLS) and
Caddy (deploy/gateway/Caddyfile, plain http) in front of it. Through each gateway: a token with
the scope reaches the API with its identity in X-Auth-* (the client's own X-Auth-* and its own
description of the original request do not), the rule's identity token verifies; a wrong scope
is a 403, no credential a 401, an API key in X-API-Key passes, a token revoked at /oauth/revoke
is a 401 on the very next request, a DPoP-bound token is refused as Bearer and allowed with a
proof of the gateway's URL, an ambiguous path is a 400, and a spent rate limit or quota is a 429
with Retry-After at the gateway's client (nginx's auth_request turns it into a 500 unless the
recipe maps it back). Refills as the clock moves are tested in-process (tests/gateway/)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from authserver_verify.dpop import ath_of
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tests.api.conftest import ADMIN
from tests.e2e.test_deploy_nginx import NGINX, Nginx, fill, stop
from tests.gateway.test_decision import proof
from tests.outbound.listeners import Certificates
from tests.server_process import ServerProcess, free_port

RECIPES = Path(__file__).resolve().parents[2] / "deploy" / "gateway"
CADDY = Path("/usr/bin/caddy")
TIMEOUT = 30
IDENTITY = ("X-Auth-Subject", "X-Auth-Client-Id", "X-Auth-Scope", "X-Auth-Credential",
            "X-Auth-Key-Id", "X-Auth-Rule", "X-Auth-Token")  # fmt: skip
RULES = [
    # The identity token's aud is the origin of a host the rule pins (the gateways' "localhost").
    {
        "name": "orders",
        "host": "localhost",
        "path": "/orders",
        "scopes": ["orders:read"],
        "forward_token": True,
    },
    {"name": "public", "path": "/public", "credentials": ["anonymous"]},
]

# One server for both gateways, on SQLite whatever the pass: nothing here depends on the
# database, so the PostgreSQL pass skips it (pytest.mark.sqlite).
pytestmark = pytest.mark.sqlite


class Upstream:
    """The API: answers every request with what reached it (method, path, body length and
    every header, each with all its values), as JSON."""

    def __init__(self) -> None:
        class Echo(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers: dict[str, list[str]] = {}
                for name in self.headers:
                    headers[name.lower()] = self.headers.get_all(name)
                body = json.dumps({"method": self.command, "path": self.path,
                                   "body": len(self.rfile.read(length)),
                                   "headers": headers}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=10)


class Caddy:
    """Caddy running the recipe, its settings in its environment as the recipe reads them, its
    admin endpoint off and its files in ``folder``."""

    def __init__(self, folder: Path, port: int, **settings: str) -> None:
        self.folder = folder
        self.base = f"http://localhost:{port}"
        self.config = folder / "Caddyfile"
        shutil.copy(RECIPES / "Caddyfile", self.config)
        self.env = {**os.environ, "HOME": str(folder), "XDG_DATA_HOME": str(folder / "data"),
                    "XDG_CONFIG_HOME": str(folder / "config"), "CADDY_ADMIN": "off",
                    "SITE_ADDRESS": self.base, **settings}  # fmt: skip
        self.command = [str(CADDY), "run", "--config", str(self.config), "--adapter", "caddyfile"]

    @contextlib.contextmanager
    def running(self) -> Iterator[Caddy]:
        log = self.folder / "caddy.log"
        with log.open("w") as out:
            proc = subprocess.Popen(self.command, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                assert proc.poll() is None, log.read_text()[-2000:]
                try:
                    requests.get(self.base + "/", timeout=2)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, "caddy did not start"
                    time.sleep(0.1)
            # Caddy reads the recipe without a complaint (the disabled admin endpoint is ours).
            warnings = [line for line in log.read_text().splitlines()
                        if '"level":"warn"' in line or '"level":"error"' in line]  # fmt: skip
            assert all("admin endpoint disabled" in line for line in warnings), warnings
            yield self
        finally:
            stop(proc)


class Deployment:
    """The server, and what the tests need of it: tokens, keys with limits, the JWKS."""

    def __init__(self, server: ServerProcess, svc: dict) -> None:
        self.server = server
        self.svc = svc
        self.auth = (svc["client_id"], svc["client_secret"])
        self.admin = {"Authorization": "Bearer " + self.token(ADMIN)}
        self.gateways: dict[str, tuple[str, str | bool]] = {}  # name: (base URL, verify)

    def token(self, scope: str, dpop: ECKey | None = None) -> str:
        headers = {}
        if dpop is not None:
            headers["DPoP"] = proof(dpop, self.server.issuer + "/oauth/token", "POST")
        issued = requests.post(self.server.issuer + "/oauth/token", auth=self.auth,
                               data={"grant_type": "client_credentials", "scope": scope},
                               headers=headers, timeout=TIMEOUT)  # fmt: skip
        assert issued.status_code == 200, issued.text
        assert issued.json()["token_type"] == ("DPoP" if dpop else "Bearer")
        return issued.json()["access_token"]

    def api(self, method: str, path: str, body: dict) -> dict:
        answer = requests.request(method, self.server.issuer + "/api/v1" + path, json=body,
                                  headers=self.admin, timeout=TIMEOUT)  # fmt: skip
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def api_key(self, **limits) -> dict:
        key = self.api("POST", "/api-keys", {"owner_client": self.svc["client_id"],
                                             "scopes": ["orders:read"]})  # fmt: skip
        if limits:
            self.api("PUT", f"/api-keys/{key['id']}/limits", limits)
        return key

    def jwks(self) -> KeySet:
        discovery = requests.get(self.server.issuer + "/.well-known/openid-configuration",
                                 timeout=TIMEOUT).json()  # fmt: skip
        return KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=TIMEOUT).json())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("gateway")
    (home / "authserver").mkdir()
    server = ServerProcess(home / "authserver")
    server.cli("init")
    # One client holds the admin API's permissions and the API's scopes; each token asks for
    # what it needs (an admin may hand out only what it holds, so it holds orders:read).
    server.cli("roles", "create", "gateway-e2e", "--scope", ADMIN)
    svc = json.loads(server.cli("clients", "create", "--name", "svc", "--scope", ADMIN,
                                "--role", "gateway-e2e", "--json"))  # fmt: skip
    upstream = Upstream()
    with contextlib.ExitStack() as stack:
        stack.enter_context(server.running(workers=1))
        stack.enter_context(upstream.running())
        deployed = Deployment(server, svc)
        deployed.api("PUT", "/gateway/rules", {"rules": RULES})
        authserver = f"127.0.0.1:{server.port}"
        if NGINX.exists():
            folder = home / "nginx"
            folder.mkdir()
            tls = Certificates(folder, "localhost", "127.0.0.1")
            port = free_port()
            nginx = Nginx(folder, port, fill(
                (RECIPES / "nginx.conf").read_text(), LISTEN=f"127.0.0.1:{port}",
                SERVER_NAME="localhost", AUTHSERVER=authserver, API_UPSTREAM=upstream.address,
                TLS_CERTIFICATE=str(tls.cert_file), TLS_CERTIFICATE_KEY=str(tls.key_file),
            ))  # fmt: skip
            checked = nginx.check()  # nginx -t: the recipe parses, without a warning
            assert "[warn]" not in checked and "[emerg]" not in checked, checked
            stack.enter_context(nginx.running(tls.ca_file))
            deployed.gateways["nginx"] = (nginx.base, str(tls.ca_file))
        if CADDY.exists():
            (home / "caddy").mkdir()
            caddy = Caddy(home / "caddy", free_port(), AUTHSERVER=authserver,
                          API_UPSTREAM=upstream.address)  # fmt: skip
            stack.enter_context(caddy.running())
            deployed.gateways["caddy"] = (caddy.base, True)
        yield deployed


MISSING = {
    "nginx": (NGINX, "nginx is missing (make system-deps installs Debian's nginx-light)"),
    "caddy": (CADDY, "caddy is missing (make system-deps installs Debian's caddy)"),
}


@pytest.fixture(params=sorted(MISSING))
def gateway(request, deployment):
    """A client of one gateway: ``through(method, path, **requests_kwargs)``."""
    binary, reason = MISSING[request.param]
    if not binary.exists():
        pytest.skip(reason)
    base, verify = deployment.gateways[request.param]

    def through(method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, base + path, verify=verify, timeout=TIMEOUT,
                                allow_redirects=False, **kwargs)  # fmt: skip

    through.base = base
    return through


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def echoed(response: requests.Response) -> dict:
    """What reached the upstream, with each X-Auth-* header's values (none when absent)."""
    assert response.status_code == 200, (response.status_code, response.headers)
    seen = response.json()
    seen["identity"] = {name: seen["headers"].get(name.lower(), []) for name in IDENTITY}
    return seen


FORGED = {"X-Auth-Subject": "admin", "X-Auth-Key-Id": "forged", "X-Auth-Token": "forged",
          "X-Auth-Scope": "everything", "X_Auth_Subject": "admin", "X-Auth_Credential": "f",
          "X_auth-Key_Id": "e"}  # fmt: skip


def test_a_token_with_the_scope_reaches_the_api_with_its_identity(deployment, gateway):
    client_id = deployment.svc["client_id"]
    token = deployment.token("orders:read")
    seen = echoed(gateway("POST", "/orders/7?page=2", data=b"an order",
                          headers={**bearer(token), **FORGED}))  # fmt: skip
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/orders/7?page=2", 8)
    identity = seen["identity"]
    assert identity["X-Auth-Subject"] == [client_id]  # the client's own "admin" is gone
    assert identity["X-Auth-Client-Id"] == [client_id]
    assert identity["X-Auth-Scope"] == ["orders:read"]
    assert identity["X-Auth-Credential"] == ["jwt"]
    assert identity["X-Auth-Rule"] == ["orders"]
    assert identity["X-Auth-Key-Id"] == []  # the answer had none; nor does the client's pass
    # Nor the underscore spelling, which a CGI-style server reads as HTTP_X_AUTH_SUBJECT.
    assert not [name for name in seen["headers"] if "_" in name]
    # The rule's identity token (forward_token), not the client's "forged": an RFC 9068 access
    # token for the gateway's origin, verified against the server's JWKS.
    (identity_token,) = identity["X-Auth-Token"]
    decoded = jwt.decode(identity_token, deployment.jwks())
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["iss"] == deployment.server.issuer and claims["sub"] == client_id
    assert claims["aud"] == gateway.base and claims["gateway"]["rule"] == "orders"
    # A public route: anonymous, and nothing the client claims about itself gets through.
    public = echoed(gateway("GET", "/public/status", headers=FORGED))["identity"]
    assert public["X-Auth-Credential"] == ["anonymous"] and public["X-Auth-Rule"] == ["public"]
    assert all(
        public[name] == [] for name in IDENTITY if name not in ("X-Auth-Credential", "X-Auth-Rule")
    )


def test_refusals_reach_the_client(deployment, gateway):
    wrong = gateway("GET", "/orders/7", headers=bearer(deployment.token("orders:write")))
    assert wrong.status_code == 403
    assert 'error="insufficient_scope"' in wrong.headers["WWW-Authenticate"]
    assert 'scope="orders:read"' in wrong.headers["WWW-Authenticate"]
    token = bearer(deployment.token("orders:read"))
    assert gateway("GET", "/elsewhere", headers=token).status_code == 403  # no rule: deny
    missing = gateway("GET", "/orders/7")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    # Paths a gateway and an upstream could read two ways are refused, not routed.
    assert gateway("GET", "/orders%2F7", headers=token).status_code == 400
    assert gateway("GET", "/public/x%2F..%2F..%2Forders").status_code == 400


def test_a_client_cannot_describe_another_request_than_its_own(deployment, gateway):
    """authserver reads nginx's X-Original-* and Caddy's X-Forwarded-Method/-Uri: a client
    that sends its own, naming the public route, is still asking about /orders."""
    for forged in ({"X-Original-URI": "/public/x", "X-Original-Method": "GET"},
                   {"X-Original-URL": "https://localhost/public/x"},
                   {"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET"}):  # fmt: skip
        answer = gateway("DELETE", "/orders/7", headers=forged)
        assert answer.status_code == 401, (forged, answer.status_code)


def test_an_api_key_in_x_api_key(deployment, gateway):
    key = deployment.api_key()
    identity = echoed(gateway("GET", "/orders", headers={"X-API-Key": key["key"]}))["identity"]
    assert identity["X-Auth-Credential"] == ["api_key"]
    assert identity["X-Auth-Key-Id"] == [key["id"]]
    assert identity["X-Auth-Client-Id"] == [deployment.svc["client_id"]]
    wrong = {"X-API-Key": key["key"][:-2] + "xx"}
    assert gateway("GET", "/orders", headers=wrong).status_code == 401


def test_a_revoked_token_is_refused_on_the_very_next_request(deployment, gateway):
    token = deployment.token("orders:read")
    assert gateway("GET", "/orders/1", headers=bearer(token)).status_code == 200
    revoked = requests.post(deployment.server.issuer + "/oauth/revoke", auth=deployment.auth,
                            data={"token": token}, timeout=TIMEOUT)  # fmt: skip
    assert revoked.status_code == 200
    refused = gateway("GET", "/orders/1", headers=bearer(token))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_a_dpop_bound_token_needs_its_proof(deployment, gateway):
    key = ECKey.generate_key("P-256")
    token = deployment.token("orders:read", dpop=key)
    as_bearer = gateway("GET", "/orders/1", headers=bearer(token))
    assert as_bearer.status_code == 401  # RFC 9449 §7.2
    assert 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
    # With a proof of the URL the client asked for (the gateway's, port and all: RFC 9449 §4.3).
    url = gateway.base + "/orders/1"
    ath = ath_of(token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof(key, url, "GET", ath=ath)}
    answer = gateway("GET", "/orders/1?x=1", headers=headers)
    assert answer.status_code == 200, answer.headers.get("WWW-Authenticate")
    assert echoed(answer)["identity"]["X-Auth-Credential"] == ["dpop"]
    other = {"Authorization": f"DPoP {token}", "DPoP": proof(key, url, "POST", ath=ath)}
    assert gateway("GET", "/orders/1", headers=other).status_code == 401  # htm is the method


def test_a_spent_rate_limit_is_a_429_with_retry_after(deployment, gateway):
    key = deployment.api_key(rate_limit="2/minute")
    headers = {"X-API-Key": key["key"]}
    for _ in range(2):
        assert gateway("GET", "/orders", headers=headers).status_code == 200
    limited = gateway("GET", "/orders", headers=headers)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert "RateLimit-Policy" in limited.headers and "RateLimit" in limited.headers


def test_a_spent_quota_is_a_429_with_retry_after(deployment, gateway):
    key = deployment.api_key(quota=2, quota_period="day")
    headers = {"X-API-Key": key["key"]}
    for _ in range(2):
        assert gateway("GET", "/orders", headers=headers).status_code == 200
    spent = gateway("GET", "/orders", headers=headers)
    assert spent.status_code == 429
    assert 0 < int(spent.headers["Retry-After"]) <= 86400  # the next 00:00 UTC
    assert '"quota";q=2' in spent.headers["RateLimit-Policy"]
    assert '"quota";r=0' in spent.headers["RateLimit"]


def test_a_spent_quota_refills_when_its_period_turns(deployment, gateway):
    """The server's clock cannot be moved from here, so the quota's reset moment is moved to
    the past instead: what the next request meets once the period has turned."""
    key = deployment.api_key(quota=1, quota_period="day")
    headers = {"X-API-Key": key["key"]}
    assert gateway("GET", "/orders", headers=headers).status_code == 200
    assert gateway("GET", "/orders", headers=headers).status_code == 429
    database = deployment.server.env["AUTHSERVER_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        moved = connection.execute(
            "UPDATE api_keys SET quota_resets_at = '2000-01-01 00:00:00.000000' WHERE key_id = ?",
            (key["id"],),
        )
        assert moved.rowcount == 1
    refilled = gateway("GET", "/orders", headers=headers)
    assert refilled.status_code == 200
    assert gateway("GET", "/orders", headers=headers).status_code == 429  # one a day again
