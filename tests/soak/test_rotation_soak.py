"""Soak: keys rotate many times under a schedule of seconds while one process issues tokens
and another verifies each through ``authserver.verify`` against the live JWKS. No valid token
may fail; after an emergency revocation the key's tokens fail in both verification paths
within the JWKS max-age. Bounded: about a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.server_process import AUTHSERVER, ServerProcess

# `make soak` runs it for longer; the suite keeps it bounded.
SOAK_SECONDS = float(os.environ.get("AUTHSERVER_SOAK_SECONDS", "45"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fast_rotating_server(tmp_path):
    server = ServerProcess(
        tmp_path,
        AUTHSERVER_ACCESS_TOKEN_TTL="3s",
        AUTHSERVER_ID_TOKEN_TTL="3s",
        AUTHSERVER_CLOCK_SKEW="1s",
        AUTHSERVER_KEYRING_REFRESH="1s",
        AUTHSERVER_KEY_ROTATION_CHECK_INTERVAL="1s",
    )
    server.cli("init")
    # JWKS max-age is derived: (4 s publish-ahead - 1 s refresh) / 2 = 1 s.
    server.cli(
        "keys", "schedule", "--rotate-every", "6s", "--publish-ahead", "4s", "--retire-after", "5s"
    )
    client = json.loads(
        server.cli("clients", "create", "--name", "soak", "--role", "resource-server", "--json")
    )
    with server.running():
        yield server.env, server.issuer, (client["client_id"], client["client_secret"])


def test_tokens_verify_across_many_rotations(fast_rotating_server):
    env, issuer, auth = fast_rotating_server
    verifier = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.soak.verifier",
            issuer + "/.well-known/jwks.json",
            issuer,
            issuer,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    session = requests.Session()
    kids, issued, results = set(), 0, []
    try:
        deadline = time.monotonic() + SOAK_SECONDS
        while time.monotonic() < deadline:
            response = session.post(
                issuer + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=auth,
                timeout=10,
            )
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            kids.add(_kid(token))
            verifier.stdin.write(token + "\n")
            verifier.stdin.flush()
            results.append(verifier.stdout.readline().strip())
            issued += 1
            time.sleep(0.02)
    finally:
        verifier.stdin.close()
        tail = verifier.stdout.read()
        verifier.stdout.close()
        verifier.wait(timeout=30)

    failures = [r for r in results if r != "ok"]
    assert issued > 300
    assert failures == [], f"{len(failures)} of {issued} valid tokens failed: {set(failures)}"
    # A new key every 6 s; a third of the slack covers scheduler and start-up latency.
    expected_keys = max(5, int(SOAK_SECONDS // 9))
    assert len(kids) >= expected_keys, f"only {len(kids)} signing keys seen: keys did not rotate"
    # Refreshes were driven by max-age, a handful per rotation, not one per token.
    fetches = int(tail.split()[-1])
    assert fetches < issued / 5
    print(f"soak: {issued} tokens over {len(kids)} keys, {fetches} JWKS fetches, 0 failures")


def test_a_revoked_keys_tokens_fail_in_both_paths(fast_rotating_server):
    env, issuer, auth = fast_rotating_server
    from authserver_verify import JWKSCache, UnknownKey, verify_access_token

    token = requests.post(
        issuer + "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth, timeout=10
    ).json()["access_token"]
    jwks = JWKSCache(issuer + "/.well-known/jwks.json")
    verify_access_token(token, jwks=jwks, issuer=issuer, audience=issuer)
    kid = _kid(token)
    subprocess.run(
        [AUTHSERVER, "keys", "revoke", kid, "--reason", "soak test"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )

    def introspect() -> dict:
        return requests.post(
            issuer + "/oauth/introspect", data={"token": token}, auth=auth, timeout=10
        ).json()

    # Introspection: inactive once the workers' key rings refresh (1 s).
    _eventually(lambda: introspect() == {"active": False}, within=5)
    # Local verification: fails once the cached JWKS is older than its max-age (1 s).
    max_age = int(
        requests.get(issuer + "/.well-known/jwks.json", timeout=10)
        .headers["Cache-Control"]
        .split("max-age=")[1]
    )
    time.sleep(max_age + 1.5)  # real time: this is a live server, no movable clock
    with pytest.raises(UnknownKey):
        verify_access_token(token, jwks=jwks, issuer=issuer, audience=issuer)


def _eventually(check, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    assert check()


def _kid(token: str) -> str:
    import base64

    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
