"""HTTP hardening: cookies with the __Host- prefix over https, client addresses through trusted
proxies only, and TLS served directly (1.2 at least, forward-secret suites only) checked with a
real TLS client against a certificate made here."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import warnings

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from authserver.models import AuditEvent
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD, init_app, make_app
from tests.server_process import ServerProcess


def _set_cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_cookies_carry_the_host_prefix_over_https(tmp_path):
    app = make_app(tmp_path, issuer="https://auth.example")
    init_app(app)
    runner = app.test_cli_runner()
    from authserver.cli import cli

    created = runner.invoke(cli, ["users", "create", "ada@example.com", "--password-stdin"],
                            input=PASSWORD + "\n")  # fmt: skip
    assert created.exit_code == 0, created.output
    http = app.test_client()
    page = http.get("/login", base_url="https://auth.example")
    csrf_cookie = _set_cookies(page)["__Host-authserver_csrf"]
    assert "Secure" in csrf_cookie and "Path=/" in csrf_cookie and "Domain" not in csrf_cookie
    form = {"email": "ada@example.com", "password": PASSWORD,
            "csrf_token": csrf_of(page.get_data(as_text=True))}  # fmt: skip
    signed_in = http.post("/login", data=form, base_url="https://auth.example")
    assert signed_in.status_code == 303
    session = _set_cookies(signed_in)["__Host-authserver_session"]
    for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"):
        assert attribute in session
    assert "Domain" not in session
    assert http.get("/account", base_url="https://auth.example").status_code == 200


def test_cookies_have_plain_names_over_http(app, http):
    assert "authserver_csrf" in _set_cookies(http.get("/login"))


@pytest.mark.parametrize(("trusted", "expected"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_the_client_address_comes_through_trusted_proxies_only(tmp_path, trusted, expected):
    app = make_app(tmp_path, trusted_proxies=trusted)
    init_app(app)
    with app.app_context():
        http = app.test_client()
        page = http.get("/login").get_data(as_text=True)
        form = {"email": "nobody@example.com", "password": "x" * 12, "csrf_token": csrf_of(page)}
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        assert http.post("/login", data=form, headers=forwarded).status_code == 401
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "account:sign-in:failed")
        )
        assert event.data["ip"] == expected


def _certificate(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def _handshake(port: int, context: ssl.SSLContext) -> tuple[str, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version(), tls.cipher()[0]


def test_serve_speaks_tls_1_2_and_up_with_forward_secret_suites_only(tmp_path):
    cert, key = _certificate(tmp_path)
    server = ServerProcess(tmp_path)
    server.issuer = f"https://localhost:{server.port}"
    server.env["AUTHSERVER_ISSUER"] = server.issuer
    server.verify = cert
    server.cli("init")
    with server.running(1, "--certfile", cert, "--keyfile", key):
        meta = requests.get(server.issuer + "/.well-known/openid-configuration", verify=cert,
                            timeout=10)  # fmt: skip
        assert meta.ok and meta.json()["issuer"] == server.issuer
        assert meta.headers["Strict-Transport-Security"].startswith("max-age=")

        modern = ssl.create_default_context(cafile=cert)
        version, _ = _handshake(server.port, modern)
        assert version == "TLSv1.3"

        tls12 = ssl.create_default_context(cafile=cert)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        version, cipher = _handshake(server.port, tls12)
        assert version == "TLSv1.2" and cipher.startswith("ECDHE-")

        # A client that offers only suites without forward secrecy (RSA key exchange) is refused.
        static_rsa = ssl.create_default_context(cafile=cert)
        static_rsa.maximum_version = ssl.TLSVersion.TLSv1_2
        static_rsa.set_ciphers("AES128-GCM-SHA256:AES256-GCM-SHA384")
        with pytest.raises(ssl.SSLError):
            _handshake(server.port, static_rsa)

        # A client that speaks at most TLS 1.1 is refused.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deliberately obsolete
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            old.load_verify_locations(cert)
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError):
            _handshake(server.port, old)


def test_serve_wants_both_certificate_and_key(tmp_path):
    import subprocess

    from tests.server_process import AUTHSERVER

    cert, _ = _certificate(tmp_path)
    done = subprocess.run([AUTHSERVER, "serve", "--certfile", cert], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "--certfile and --keyfile go together" in done.stderr


def test_plain_http_to_another_host_is_a_400_not_a_500(http, make_client):
    """RFC 6749 §3.2: the token endpoint requires TLS (Authlib refuses plain http to a host
    that is not this machine before its own error handling): a 4xx in the endpoint's format."""
    client = make_client()
    for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
        response = http.post(path, data={"grant_type": "client_credentials", "token": "x"},
                             headers={**client.basic(), "Host": "auth.example.com"})  # fmt: skip
        assert response.status_code == 400, path
        assert response.get_json()["error"] == "insecure_transport"
    page = http.get("/oauth/authorize?response_type=code&client_id=x",
                    headers={"Host": "auth.example.com"})  # fmt: skip
    assert page.status_code == 400 and page.mimetype == "text/html"
