"""No worker signs with a key another worker's JWKS lacks: tokens are issued all along (three
clients, each asking again 20 ms after its last answer) by a served process with two workers
while `keys rotate --now` runs, and each is verified at once by
a stock PyJWT ``PyJWKClient`` (which refetches the JWKS once on an unknown kid) and by
``authserver.verify``. Zero failures, and the new key did sign during the run.

Before the fix, `--now` made the new key active at once: the worker that re-read its keys first
signed with it while the other, up to a key-ring refresh behind, still served a JWKS without it,
and a verifier whose refetch reached that worker failed."""

from __future__ import annotations

import json
import threading
import time

import jwt
import pytest
import requests
from authserver_verify import JWKSCache, verify_access_token

from tests.keys.conftest import kid_of
from tests.server_process import ServerProcess

SECONDS_AFTER = 3.0
# Between one client's requests: some 100 tokens a second, dense enough to land in the second a
# lagging worker would need to catch up (the key-ring refresh), without the load taking both
# cores for the 31 s the new key is published before it signs.
PAUSE_SECONDS = 0.02


@pytest.fixture
def served(tmp_path):
    server = ServerProcess(tmp_path)
    server.cli("init")
    server.client = json.loads(server.cli("clients", "create", "--name", "load", "--json"))
    with server.running(workers=2):
        yield server


def test_every_token_verifies_while_a_key_is_rotated_now(served):
    issuer = served.issuer
    auth = (served.client["client_id"], served.client["client_secret"])
    pyjwt_keys = jwt.PyJWKClient(issuer + "/.well-known/jwks.json", cache_keys=True)
    ours = JWKSCache(issuer + "/.well-known/jwks.json")
    stop = threading.Event()
    issued: list[str] = []
    failures: list[str] = []

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(issuer + "/oauth/token", auth=auth, timeout=10,
                                        data={"grant_type": "client_credentials"})  # fmt: skip
                if response.status_code != 200:
                    failures.append(f"token endpoint: {response.status_code}")
                    continue
                token = response.json()["access_token"]
                issued.append(token)
                try:
                    key = pyjwt_keys.get_signing_key_from_jwt(token)
                    jwt.decode(token, key.key, algorithms=["ES256"], audience=issuer,
                               issuer=issuer)  # fmt: skip
                except jwt.PyJWTError as e:
                    failures.append(f"PyJWT: {type(e).__name__}: {e}")
                try:
                    verify_access_token(token, jwks=ours, issuer=issuer, audience=issuer)
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    failures.append(f"authserver.verify: {type(e).__name__}: {e}")
                stop.wait(PAUSE_SECONDS)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # load running before the rotation
        before = kid_of(issued[-1])
        served.cli("keys", "rotate", "--now", "--alg", "ES256")
        time.sleep(SECONDS_AFTER)  # load running after it (not a wait for expiry)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    kids = {kid_of(token) for token in issued}
    assert before in kids and len(kids) == 2, "the new key must have signed during the run"
    assert failures == [], failures[:5]
