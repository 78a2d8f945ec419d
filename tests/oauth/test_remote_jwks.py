"""A private_key_jwt client whose keys are at its jwks_uri (RFC 7591 §2), fetched through the
outbound module: whatever the client's host does (answers 500, garbage, a body cut off, a huge
body, a redirect, nothing for a long time), the token endpoint answers 401 invalid_client,
never a 5xx; a host that is down is asked once per interval, not on every request; a known set
is refreshed in the background, so a slow host delays no request; a new kid is fetched."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time

import pytest
from joserfc import jwk, jwt

from authserver.oauth.remote_jwks import RemoteJwks
from authserver.outbound import Outbound
from authserver.platform.config import Settings
from tests.outbound.listeners import Listener, answer

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _assertion(client_id: str, key: jwk.ECKey) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "http://localhost:5000/oauth/token",
              "exp": now + 60, "iat": now, "jti": secrets.token_urlsafe(12)}  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": key.thumbprint()}, claims, key)


def _document(*keys: jwk.ECKey) -> bytes:
    return json.dumps({"keys": [k.as_dict(private=False) | {"kid": k.thumbprint()}
                                for k in keys]}).encode()  # fmt: skip


def _token(http, client_id: str, key: jwk.ECKey):
    return http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION,
        "client_assertion": _assertion(client_id, key)})  # fmt: skip


@pytest.fixture
def register(make_client):
    def make(uri: str) -> str:
        return make_client("api:read", "--auth-method", "private_key_jwt", "--jwks-uri",
                           uri).client_id  # fmt: skip

    return make


def _cut_off(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n{"keys": [{"kty": "EC"')


def _drip(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
    for _ in range(50):
        conn.sendall(b" ")
        time.sleep(0.5)


@pytest.mark.parametrize(
    "handler",
    [
        answer("500 Internal Server Error", b"oops"),
        answer("200 OK", b"<html>not a key set</html>"),
        answer("200 OK", b'{"keys": "nope"}'),
        answer("200 OK", b"[" * 5000),
        answer("200 OK", b"x" * (100 * 1024)),
        _cut_off,
        _drip,
    ],
    ids=["500", "html", "not-a-set", "deep", "huge", "cut-off", "drip"],
)
def test_whatever_the_clients_host_does_costs_the_client_a_401(http, register, handler):
    key = jwk.ECKey.generate_key("P-256")
    with Listener(handler) as host:
        client_id = register(f"http://127.0.0.1:{host.port}/jwks")
        response = _token(http, client_id, key)
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
        # The failure is remembered: the next request does not ask the host again.
        again = _token(http, client_id, key)
        assert again.status_code == 401
    assert host.connections == 1


def test_a_redirect_at_the_jwks_uri_is_not_followed(http, register):
    key = jwk.ECKey.generate_key("P-256")
    with Listener(answer("200 OK", _document(key))) as inside:
        moved = answer("302 Found", headers={"Location": f"http://127.0.0.1:{inside.port}/"})
        with Listener(moved) as host:
            response = _token(http, register(f"http://127.0.0.1:{host.port}/jwks"), key)
    assert response.status_code == 401
    assert inside.connections == 0


def test_keys_at_the_jwks_uri_authenticate_and_are_kept(http, register):
    key = jwk.ECKey.generate_key("P-256")
    with Listener(answer("200 OK", _document(key))) as host:
        client_id = register(f"http://127.0.0.1:{host.port}/jwks")
        assert _token(http, client_id, key).status_code == 200
        assert _token(http, client_id, key).status_code == 200
        stranger = jwk.ECKey.generate_key("P-256")
        assert _token(http, client_id, stranger).status_code == 401
    # Kept, not fetched per request; a stranger's kid a moment after a fetch asks nothing.
    assert host.connections == 1


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_known_set_is_refreshed_in_the_background_while_requests_are_answered():
    key = jwk.ECKey.generate_key("P-256")
    release, served = threading.Event(), []

    def slow_second_time(conn: socket.socket, head: bytes) -> None:
        if served:
            release.wait(10)  # the host has become slow
        served.append(head)
        answer("200 OK", _document(key))(conn, head)

    ticks = Ticks()
    outbound = Outbound(Settings(env="development"))
    with Listener(slow_second_time) as host:
        remote = RemoteJwks(outbound, monotonic=ticks)
        uri = f"http://127.0.0.1:{host.port}/jwks"
        first = remote.get(uri)
        assert first is not None and len(served) == 1
        ticks.now += RemoteJwks.TTL_SECONDS - RemoteJwks.REFRESH_AHEAD_SECONDS + 1
        # Answered from memory although the refresh it started is still waiting on the host.
        assert remote.get(uri) == first
        deadline = time.monotonic() + 5
        while host.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert host.connections == 2 and len(served) == 1
        assert remote.get(uri) == first  # one refresh in flight, not one per request
        assert host.connections == 2
        release.set()
        while len(served) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(served) == 2


def test_a_new_kid_is_fetched_at_most_once_per_interval():
    old, new = jwk.ECKey.generate_key("P-256"), jwk.ECKey.generate_key("P-256")
    published = [_document(old)]

    def keys(conn: socket.socket, head: bytes) -> None:
        answer("200 OK", published[0])(conn, head)

    ticks = Ticks()
    with Listener(keys) as host:
        remote = RemoteJwks(Outbound(Settings(env="development")), monotonic=ticks)
        uri = f"http://127.0.0.1:{host.port}/jwks"
        assert remote.get(uri, kid=old.thumbprint()) is not None
        published[0] = _document(old, new)  # the client rotates its keys
        remote.get(uri, kid=new.thumbprint())
        assert host.connections == 1  # a moment after a fetch: an unknown kid asks nothing
        ticks.now += RemoteJwks.REFETCH_SECONDS
        found = remote.get(uri, kid=new.thumbprint())
        assert host.connections == 2
        assert new.thumbprint() in {k["kid"] for k in found["keys"]}


def test_a_set_that_cannot_be_refreshed_is_served_for_a_bounded_time():
    key = jwk.ECKey.generate_key("P-256")
    up = [True]

    def flaky(conn: socket.socket, head: bytes) -> None:
        if up[0]:
            answer("200 OK", _document(key))(conn, head)
        else:
            answer("503 Service Unavailable")(conn, head)

    ticks = Ticks()
    with Listener(flaky) as host:
        remote = RemoteJwks(Outbound(Settings(env="development")), monotonic=ticks)
        uri = f"http://127.0.0.1:{host.port}/jwks"
        known = remote.get(uri)
        up[0] = False
        ticks.now += RemoteJwks.TTL_SECONDS + 1  # stale, the host down: the last good set
        assert remote.get(uri, kid=key.thumbprint()) == known
        ticks.now += RemoteJwks.STALE_SECONDS
        assert remote.get(uri, kid=key.thumbprint()) is None
