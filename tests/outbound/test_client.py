"""The outbound client against real listeners on loopback: redirects are answers, not orders;
a dripping host is cut off at the deadline; a huge body is refused after cap + 1 bytes; a name
that resolves to an internal address is refused before any connection (the listener receives
nothing); the address connected to is the one that was checked (a resolver hook makes a
public-looking name resolve to loopback); TLS names the host and checks its certificate."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from authserver.outbound import Outbound, OutboundError
from authserver.platform.config import Settings
from tests.outbound.listeners import Certificates, Listener, answer

LOOPBACK = "127.0.0.1/32"


def outbound(*, allow: str | None = LOOPBACK, env: str = "production", ca: str | None = None,
             resolve=None, timeout: int = 5) -> Outbound:  # fmt: skip
    settings = Settings(env=env, outbound_allow=allow, outbound_ca_file=ca,
                        outbound_timeout_seconds=timeout)  # fmt: skip
    return Outbound(settings) if resolve is None else Outbound(settings, resolve=resolve)


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    return Certificates(tmp_path, "public.example", "localhost")


def to_loopback(host: str, port: int) -> list[str]:
    """A resolver under the test's control: every name is 127.0.0.1."""
    return ["127.0.0.1"]


def test_an_https_answer_over_a_checked_connection(certificates):
    with Listener(answer("200 OK", b'{"keys": []}'), tls=certificates.server_context()) as server:
        client = outbound(ca=str(certificates.ca_file), resolve=to_loopback)
        response = client.get(f"https://public.example:{server.port}/jwks?x=1")
    assert response.status == 200 and response.body == b'{"keys": []}'
    head = server.requests[0].decode()
    assert head.startswith("GET /jwks?x=1 HTTP/1.1\r\n")
    assert f"Host: public.example:{server.port}\r\n" in head


def test_a_certificate_for_another_name_is_refused(certificates):
    with Listener(answer("200 OK", b"{}"), tls=certificates.server_context()) as server:
        client = outbound(allow=f"{LOOPBACK} other.example", ca=str(certificates.ca_file),
                          resolve=to_loopback)  # fmt: skip
        with pytest.raises(OutboundError) as refused:
            client.get(f"https://other.example:{server.port}/")
    assert refused.value.reason == "tls"


def test_an_untrusted_certificate_is_refused(certificates):
    with Listener(answer("200 OK", b"{}"), tls=certificates.server_context()) as server:
        with pytest.raises(OutboundError) as refused:
            outbound(resolve=to_loopback).get(f"https://public.example:{server.port}/")
    assert refused.value.reason == "tls"


def test_a_public_looking_name_that_resolves_inside_is_refused_before_connecting():
    with Listener(answer("200 OK", b"secret")) as server:
        client = outbound(allow=None, resolve=to_loopback)
        with pytest.raises(OutboundError) as refused:
            client.get(f"https://public.example:{server.port}/latest/meta-data/")
        time.sleep(0.2)  # a connection, had one been made, would have been accepted by now
    assert refused.value.reason == "refused" and refused.value.rule == "address"
    assert "loopback" in str(refused.value)
    assert server.connections == 0


def test_a_name_with_one_internal_address_among_public_ones_is_refused():
    client = outbound(allow=None, resolve=lambda host, port: ["93.184.215.14", "10.1.2.3"])
    with pytest.raises(OutboundError) as refused:
        client.get("https://mixed.example/")
    assert refused.value.rule == "address" and "10.1.2.3" in str(refused.value)


def test_a_redirect_is_not_followed():
    hits = []
    with Listener(lambda conn, head: hits.append(head)) as target:
        location = f"http://127.0.0.1:{target.port}/latest/meta-data/iam/"
        redirect = answer("302 Found", headers={"Location": location})
        with Listener(redirect) as server:
            response = outbound(env="development", allow=None).get(
                f"http://127.0.0.1:{server.port}/jwks"
            )
        time.sleep(0.2)
    assert response.status == 302 and not response.ok
    assert hits == [] and target.connections == 0


def drip(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        conn.sendall(b"x")
        time.sleep(0.5)


def test_a_dripping_host_is_cut_off_at_the_deadline():
    with Listener(drip) as server:
        client = outbound(env="development", allow=None)
        started = time.monotonic()
        with pytest.raises(OutboundError) as failed:
            client.get(f"http://127.0.0.1:{server.port}/", deadline_seconds=1.5)
        elapsed = time.monotonic() - started
    assert failed.value.reason == "timeout"
    assert elapsed < 3  # one deadline, not 100 reads of 0.5 s each


def test_dripping_headers_are_cut_off_too():
    def slow_headers(conn: socket.socket, head: bytes) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 50:
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    with Listener(slow_headers) as server:
        client = outbound(env="development", allow=None)
        started = time.monotonic()
        with pytest.raises(OutboundError) as failed:
            client.get(f"http://127.0.0.1:{server.port}/", deadline_seconds=1)
    assert failed.value.reason == "timeout" and time.monotonic() - started < 2.5


def test_a_huge_body_is_refused_after_the_cap():
    sent = []

    def huge(conn: socket.socket, head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(1600):  # 100 MiB, should the client read it all
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent.append(len(chunk))
        except OSError:
            return

    with Listener(huge) as server:
        client = outbound(env="development", allow=None)
        with pytest.raises(OutboundError) as failed:
            client.get(f"http://127.0.0.1:{server.port}/", max_bytes=64 * 1024)
    assert failed.value.reason == "too_large"
    assert sum(sent) < 20 * 1024 * 1024  # the client hung up long before 100 MiB


def test_a_declared_length_over_the_cap_is_refused_unread():
    with Listener(answer("200 OK", b"x" * 70000)) as server:
        with pytest.raises(OutboundError) as failed:
            outbound(env="development", allow=None).get(f"http://127.0.0.1:{server.port}/")
    assert failed.value.reason == "too_large"


def test_an_answer_cut_off_mid_body_is_a_failure():
    def cut(conn: socket.socket, head: bytes) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"keys": [')

    with Listener(cut) as server:
        with pytest.raises(OutboundError) as failed:
            outbound(env="development", allow=None).get(f"http://127.0.0.1:{server.port}/")
    assert failed.value.reason == "protocol"


def test_a_failure_is_remembered_when_asked_and_fails_fast():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = outbound(env="development", allow=None)
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(OutboundError):
        client.get(url, deadline_seconds=0.5, remember_failure_seconds=30)
    started = time.monotonic()
    with pytest.raises(OutboundError) as again:
        client.get(url, deadline_seconds=5)
    assert again.value.reason == "recently_failed" and time.monotonic() - started < 0.1


def test_requests_to_one_destination_are_capped():
    release = threading.Event()

    def hold(conn: socket.socket, head: bytes) -> None:
        release.wait(10)
        answer("200 OK", b"{}")(conn, head)

    with Listener(hold) as server:
        client = outbound(env="development", allow=None)
        url = f"http://127.0.0.1:{server.port}/"
        results: list[object] = []
        threads = [threading.Thread(target=lambda: results.append(client.get(url)))
                   for _ in range(4)]  # fmt: skip
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(server.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(OutboundError) as busy:
            client.get(url)
        release.set()
        for thread in threads:
            thread.join(10)
    assert busy.value.reason == "busy"
    assert len(results) == 4 and all(r.status == 200 for r in results)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd",
                                 "gopher://127.0.0.1:6379/_INFO"])  # fmt: skip
def test_other_schemes_never_leave(url):
    with pytest.raises(OutboundError) as refused:
        outbound(env="development").get(url)
    assert refused.value.reason == "refused" and refused.value.rule == "scheme"
