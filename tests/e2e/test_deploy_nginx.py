"""deploy/nginx/authserver.conf, served for real: Debian's nginx with a test CA's certificate in
front of two `authserver serve` instances on one PostgreSQL, one Redis and one KEK. Through
nginx, discovery names the https issuer, a client_credentials token verifies against the JWKS
fetched through nginx, and an authorization code flow with PKCE works while nginx spreads its
requests over both instances (each answer's X-Request-Id is found in exactly one instance's
access log). A client's own X-Forwarded-For and X-Forwarded-Proto do not get through: the
access line and the audit record of a failed sign-in name the address nginx saw, and the issuer
stays https. Sent straight to an instance, the same forged header is believed: why the instances
must listen only where nginx reaches them (deploy/README.md)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD
from tests.e2e.served_logs import access_lines_by_id
from tests.outbound.listeners import Certificates
from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.redis_server import redis_url  # noqa: F401 (fixture)
from tests.server_process import ServerProcess, free_port

NGINX = Path("/usr/sbin/nginx")
RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "authserver.conf"
REDIRECT = "https://rp.example/callback"
FORGED = "203.0.113.9"
TIMEOUT = 30

MISSING = "nginx is missing (make system-deps installs Debian's nginx-light)"
pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not NGINX.exists(), reason=MISSING)]


def fill(template: str, **values: str) -> str:
    """The recipe's ${NAME} placeholders (deploy/README.md), each given exactly once; nginx's own
    $variables are left alone, as envsubst and the nginx image leave them."""
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", template))
    assert names == set(values), f"the recipe's placeholders are {sorted(names)}"
    return re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: values[m[1]], template)


def stop(proc: subprocess.Popen) -> None:
    """Stop a server the test started: politely, then for sure."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class Nginx:
    """Debian's nginx with a minimal top-level configuration that includes the recipe."""

    def __init__(self, folder: Path, port: int, recipe: str) -> None:
        self.folder = folder
        self.base = f"https://localhost:{port}"
        (folder / "authserver.conf").write_text(recipe)
        # `user root` when the test runs as root: nginx's workers would otherwise become nobody,
        # who cannot read this folder. The recipe itself names no user.
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;  # the recipe's server names its own
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/authserver.conf;
}}
""")
        self.command = [str(NGINX), "-p", str(folder), "-c", str(folder / "nginx.conf"),
                        "-e", str(folder / "error.log")]  # fmt: skip

    def check(self) -> str:
        done = subprocess.run([*self.command, "-t"], capture_output=True, text=True, timeout=30,
                              check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stderr

    def access_lines(self, request_ids: list[str]) -> dict[str, str]:
        """The upstream that answered each request, by request id, once nginx has written the
        lines of all those given (it writes one after the answer has left); no query string."""
        deadline = time.monotonic() + 10
        while True:
            upstream = {}
            for line in (self.folder / "authserver-access.log").read_text().splitlines():
                request, upstream_addr, request_id = line.split('"')[1], *line.split()[-2:]
                assert "?" not in request, line
                upstream[request_id] = upstream_addr
            if set(request_ids) <= set(upstream) or time.monotonic() > deadline:
                return upstream
            time.sleep(0.05)

    @contextlib.contextmanager
    def running(self, ca: Path) -> Iterator[Nginx]:
        proc = subprocess.Popen([*self.command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                assert proc.poll() is None, (self.folder / "error.log").read_text()[-2000:]
                try:
                    requests.get(self.base + "/healthz", verify=str(ca), timeout=2)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.1)
            yield self
        finally:
            stop(proc)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def deployment(tmp_path, postgres_url, redis_url):  # noqa: F811
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the server outlives tests: start from zero
    tls = Certificates(tmp_path, "localhost", "127.0.0.1")  # a test CA and a leaf it signed
    ca = tls.ca_file
    (tmp_path / "nginx").mkdir()
    port = free_port()
    shared = {
        "AUTHSERVER_ISSUER": f"https://localhost:{port}",
        "AUTHSERVER_DATABASE_URL": postgres_url(),
        "AUTHSERVER_REDIS_URL": redis_url,
        "AUTHSERVER_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
        "AUTHSERVER_TRUSTED_PROXIES": "1",
        "AUTHSERVER_LOG_FORMAT": "json",
    }
    instances = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        instances.append(ServerProcess(tmp_path / name, **shared))
    a, b = instances
    nginx = Nginx(tmp_path / "nginx", port, fill(
        RECIPE.read_text(), LISTEN=f"127.0.0.1:{port}", SERVER_NAME="localhost",
        ACCESS_LOG=str(tmp_path / "nginx" / "authserver-access.log"),
        UPSTREAM_1=f"127.0.0.1:{a.port}", UPSTREAM_2=f"127.0.0.1:{b.port}",
        TLS_CERTIFICATE=str(tls.cert_file), TLS_CERTIFICATE_KEY=str(tls.key_file),
    ))  # fmt: skip
    checked = nginx.check()  # nginx -t: the recipe parses, without a warning
    assert "[warn]" not in checked and "[emerg]" not in checked, checked
    a.cli("init")
    a.svc = json.loads(a.cli("clients", "create", "--name", "svc", "--json"))
    a.rp = json.loads(a.cli(
        "clients", "create", "--name", "Shop", "--grant-type", "authorization_code",
        "--redirect-uri", REDIRECT, "--scope", "openid profile", "--json",
    ))  # fmt: skip
    a.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    with a.running(workers=1), b.running(workers=1), nginx.running(ca):
        yield nginx, ca, a, b


def test_nginx_recipe_in_front_of_two_instances(deployment):
    nginx, ca, a, b = deployment
    base = nginx.base
    http = requests.Session()  # verify is given per request: REQUESTS_CA_BUNDLE beats a session's
    answered: list[str] = []  # the X-Request-Id of every answer through nginx

    def through(method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("https://") else base + path
        response = http.request(method, url, timeout=TIMEOUT, allow_redirects=False,
                                verify=str(ca), **kwargs)  # fmt: skip
        answered.append(response.headers["X-Request-Id"])
        return response

    # Discovery names the https issuer, whatever scheme or host a client claims to have used.
    forged = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example",
              "X-Forwarded-For": FORGED, "X-Request-Id": "chosen-by-the-client"}  # fmt: skip
    for headers in ({}, forged):
        discovery = through("GET", "/.well-known/openid-configuration", headers=headers)
        assert discovery.status_code == 200
        document = discovery.json()
        assert document["issuer"] == base
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            assert document[name].startswith(base + "/"), (name, document[name])
        # HSTS comes from authserver alone (the recipe does not add a second one).
        assert discovery.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]

    # client_credentials through nginx; the token verifies against the JWKS fetched through it.
    # Host names a remote host (localhost may use plain http) and the client claims http: the
    # token endpoint answers, as authserver believes nginx's X-Forwarded-Proto https; over
    # plain http it refuses (RFC 6749 §3.2).
    svc = {"data": {"grant_type": "client_credentials"},
           "auth": (a.svc["client_id"], a.svc["client_secret"]),
           "headers": {"Host": "id.example", "X-Forwarded-Proto": "http"}}  # fmt: skip
    issued = through("POST", document["token_endpoint"], **svc)
    assert issued.status_code == 200, issued.text
    plain = requests.post(a.issuer + "/oauth/token", timeout=TIMEOUT, **svc)
    assert plain.status_code == 400 and plain.json()["error"] == "insecure_transport"
    keys = KeySet.import_key_set(through("GET", document["jwks_uri"]).json())
    claims = jwt.decode(issued.json()["access_token"], keys).claims
    assert claims["iss"] == base and claims["client_id"] == a.svc["client_id"]

    # The authorization code flow with PKCE, signing in with the form and consenting.
    flow_started = len(answered)
    verifier, challenge = pkce()
    query = urlencode({"response_type": "code", "client_id": a.rp["client_id"],
                       "redirect_uri": REDIRECT, "scope": "openid profile", "state": "st4te",
                       "nonce": secrets.token_hex(8), "code_challenge": challenge,
                       "code_challenge_method": "S256"})  # fmt: skip
    response = through("GET", f"{document['authorization_endpoint']}?{query}")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login?")
    login = response.headers["Location"]
    page = through("GET", login).text
    response = through("POST", "/login", data={
        "email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_of(page),
        "next": parse_qs(urlsplit(login).query)["next"][0]})  # fmt: skip
    assert response.status_code == 303, response.text[:500]
    consent = through("GET", response.headers["Location"])
    assert consent.status_code == 200 and ">Allow<" in consent.text
    response = through("POST", consent.url, data={"csrf_token": csrf_of(consent.text),
                                                  "allow": "Allow"})  # fmt: skip
    assert response.status_code == 302, response.text[:500]
    callback = parse_qs(urlsplit(response.headers["Location"]).query)
    assert callback["state"] == ["st4te"] and callback["iss"] == [base]
    tokens = through("POST", document["token_endpoint"], data={
        "grant_type": "authorization_code", "code": callback["code"][0],
        "redirect_uri": REDIRECT, "code_verifier": verifier,
    }, auth=(a.rp["client_id"], a.rp["client_secret"]))  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    id_token = jwt.decode(tokens.json()["id_token"], keys).claims
    assert id_token["iss"] == base and a.rp["client_id"] in id_token["aud"]
    bearer = {"Authorization": "Bearer " + tokens.json()["access_token"]}
    userinfo = through("GET", document["userinfo_endpoint"], headers=bearer)
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == id_token["sub"]

    # A failed sign-in carrying a forged X-Forwarded-For and -Proto.
    page = through("GET", "/login").text
    failed = through("POST", "/login", headers=forged, data={
        "email": "ada@example.com", "password": "not the password", "csrf_token": csrf_of(page),
        "next": "/account"})  # fmt: skip
    assert failed.status_code == 401
    failed_id = answered[-1]
    assert "chosen-by-the-client" not in answered  # nginx's $request_id, end to end

    # Every answer came from exactly one instance, and both instances answered, the code
    # flow's steps included: a session made on one is used on the other.
    found = access_lines_by_id(a, b, waiting_for=answered)
    logs = {"a": found[0], "b": found[1]}
    where = {}
    for request_id in answered:
        seen = [name for name, lines in logs.items() if request_id in lines]
        assert len(seen) == 1, (request_id, seen)
        where[request_id] = seen[0]
    assert set(where.values()) == {"a", "b"}
    assert {where[i] for i in answered[flow_started:]} == {"a", "b"}
    # nginx's own line names the same instance, and no query string (a login_hint, an
    # id_token_hint at logout) reaches it.
    upstream = nginx.access_lines(answered)
    ports = {"a": a.port, "b": b.port}
    assert all(upstream.get(i) == f"127.0.0.1:{ports[where[i]]}" for i in answered), upstream

    # The forged address reached neither the access line nor the audit trail.
    line = logs[where[failed_id]][failed_id]
    assert line["client"] == "127.0.0.1" and line["path"] == "/login"
    records = [json.loads(r) for r in a.cli("audit", "tail", "-n", "50").splitlines()]
    (audited,) = [r for r in records if r.get("request_id") == failed_id]
    assert audited["event"] == "account:sign-in:failed" and audited["ip"] == "127.0.0.1"
    assert FORGED not in a.log() + b.log()

    # Straight to an instance, the one hop it trusts is whoever connects: it must not be
    # reachable except through nginx.
    direct = requests.get(a.issuer + "/healthz", headers={"X-Forwarded-For": FORGED},
                          timeout=TIMEOUT)  # fmt: skip
    (lines,) = access_lines_by_id(a, waiting_for=[direct.headers["X-Request-Id"]])
    assert lines[direct.headers["X-Request-Id"]]["client"] == FORGED
