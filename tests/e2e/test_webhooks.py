"""Security-event webhooks end to end: `authserver serve` (two worker processes, each with its
sender) delivering to real HTTPS receivers on loopback whose certificate comes from a CA the
test makes (AUTHSERVER_OUTBOUND_CA_FILE), subscribed through the CLI and the admin API.

Real events (failed sign-ins at /login, an API key issued through the API) arrive signed as
Standard Webhooks says (every request verified with the reference implementation); a receiver
that answers 500 to a message the first time gets it again and sees each event once by
webhook-id; no attempt is sent twice by the two processes; a receiver that always fails gets
exactly AUTHSERVER_WEBHOOK_MAX_ATTEMPTS attempts; a server stopped with a retry pending, and
events recorded by the CLI while no server runs, are delivered once it is back."""

from __future__ import annotations

import json
import re
import threading

import pytest
import requests

from tests.outbound.listeners import Certificates
from tests.server_process import ServerProcess
from tests.test_metrics import metric
from tests.webhooks.receiver import Received, Receiver, always

MAX_ATTEMPTS = 3
OPS_SCOPE = "webhooks:read webhooks:write audit:read apikeys:read apikeys:write"


class FailsFirst:
    """Answers 500 the first time it sees a message id, 200 after; processes each id once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.processed: dict[str, Received] = {}
        self.lock = threading.Lock()

    def __call__(self, received: Received) -> tuple[str, dict[str, str]]:
        with self.lock:
            if received.message_id not in self.seen:
                self.seen.add(received.message_id)
                return "500 Internal Server Error", {}
            self.processed.setdefault(received.message_id, received)  # idempotent by id
            return "200 OK", {}


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    folder = tmp_path / "tls"
    folder.mkdir()
    return Certificates(folder, "127.0.0.1")


@pytest.fixture
def server(tmp_path, certificates):
    server = ServerProcess(
        tmp_path,
        AUTHSERVER_OUTBOUND_ALLOW="127.0.0.1/32",
        AUTHSERVER_OUTBOUND_CA_FILE=str(certificates.ca_file),
        AUTHSERVER_WEBHOOK_RETRY_BASE="1",
        AUTHSERVER_WEBHOOK_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        AUTHSERVER_WEBHOOK_POLL_INTERVAL="1",
        AUTHSERVER_LOG_LEVEL="DEBUG",
    )
    server.cli("init")
    server.ops = json.loads(server.cli("clients", "create", "--name", "ops", "--role", "admin",
                                       "--force-mfa-roles", "--scope", OPS_SCOPE,
                                       "--json"))  # fmt: skip
    # The owner of the API keys the test issues: it holds nothing the ops token lacks.
    server.cli("roles", "create", "audit-reader", "--scope", "audit:read")
    server.reader = json.loads(server.cli("clients", "create", "--name", "reader", "--role",
                                          "audit-reader", "--scope", "audit:read",
                                          "--json"))  # fmt: skip
    return server


def _states(server: ServerProcess, token: str, webhook_id: str) -> set[str]:
    """The states of a subscription's deliveries, as the admin API shows them."""
    log = _api(server, token, "GET", f"/webhooks/{webhook_id}/deliveries").json()["items"]
    return {d["state"] for d in log}


def _api(server: ServerProcess, token: str, method: str, path: str, body=None):
    return requests.request(method, f"{server.issuer}/api/v1{path}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def _token(server: ServerProcess, client: dict) -> str:
    response = requests.post(f"{server.issuer}/oauth/token", timeout=10,
                             data={"grant_type": "client_credentials"},
                             auth=(client["client_id"], client["client_secret"]))  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _failed_sign_in(server: ServerProcess, email: str) -> None:
    with requests.Session() as browser:
        page = browser.get(f"{server.issuer}/login", timeout=10).text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        answer = browser.post(f"{server.issuer}/login", timeout=10,
                              data={"email": email, "password": "wrong wrong wrong",
                                    "csrf_token": csrf})  # fmt: skip
    assert answer.status_code == 401


def _by_type(processed: dict[str, Received], kind: str) -> list[Received]:
    return [r for r in processed.values() if r.json()["type"] == kind]


def test_events_arrive_signed_once_each_retries_stop_and_a_restart_delivers_the_queue(
    server, certificates
):
    siem_answers = FailsFirst()
    with Receiver(certificates, siem_answers) as siem, \
            Receiver(certificates, always("500 Internal Server Error")) as broken:  # fmt: skip
        # The SIEM subscribes through the CLI.
        created = json.loads(server.cli("webhooks", "create", siem.url, "--event",
                                        "account:sign-in:failed apikey:", "--json"))  # fmt: skip
        siem_secret, siem_id = created["secret"], created["id"]

        with server.running(workers=2):
            token = _token(server, server.ops)
            # A broken receiver subscribes through the admin API.
            made = _api(server, token, "POST", "/webhooks",
                        {"url": broken.url, "events": ["oauth:refresh-token:reused"]})  # fmt: skip
            assert made.status_code == 201, made.text
            broken_secret, broken_id = made.json()["secret"], made.json()["id"]
            # Pointing one anywhere needs audit:read as well (no escalation), here too.
            clerk = json.loads(server.cli("clients", "create", "--name", "clerk", "--role",
                                          "admin", "--force-mfa-roles", "--scope",
                                          "webhooks:write", "--json"))  # fmt: skip
            refused = _api(server, _token(server, clerk), "POST", "/webhooks",
                           {"url": siem.url, "events": ["*"]})  # fmt: skip
            assert refused.status_code == 403
            assert refused.json()["missing_permissions"] == ["audit:read"]

            # Real events: failed sign-ins at /login, an API key issued through the API.
            for n in range(3):
                _failed_sign_in(server, f"intruder{n}@example.com")
            owner = server.reader["client_id"]
            key = _api(server, token, "POST", "/api-keys",
                       {"owner_client": owner, "scopes": ["audit:read"]})  # fmt: skip
            assert key.status_code == 201, key.text
            assert _api(server, token, "POST", f"/webhooks/{broken_id}/tests").status_code == 202

            siem.wait_for(lambda: len(siem_answers.processed) == 4)
            broken.wait_for(lambda: len(broken.received) == MAX_ATTEMPTS)
            broken_log = f"/webhooks/{broken_id}/deliveries"
            broken.wait_for(lambda: _api(server, token, "GET", broken_log)
                            .json()["items"][0]["state"] == "failed")  # fmt: skip
            log = _api(server, token, "GET", broken_log).json()["items"]
            metrics = requests.get(f"{server.issuer}/metrics", timeout=10).text

        # Each event once by webhook-id, after a 500; each attempt sent by one process only.
        failures = _by_type(siem_answers.processed, "account:sign-in:failed")
        # Three addresses of no account: three keyed hashes, never the addresses typed.
        actors = {r.json()["data"]["actor"] for r in failures}
        assert len(actors) == 3 and all(a.startswith("address:") for a in actors)
        assert not any(b"intruder" in r.body for r in failures)
        (issued,) = _by_type(siem_answers.processed, "apikey:key:created")
        assert issued.json()["data"]["data"]["key_id"] == key.json()["id"]
        assert key.json()["key"] not in issued.body.decode()  # never a secret
        attempts = siem.by_message()
        assert {len(sent) for sent in attempts.values()} == {2}  # 500, then 200: no more
        for sent in attempts.values():
            assert len({r.body for r in sent}) == 1
        # Every request to every receiver verifies with the reference implementation.
        assert all(r.verifies(siem_secret) for r in siem.received)
        assert all(r.verifies(broken_secret) for r in broken.received)
        assert not any(r.verifies(siem_secret) for r in broken.received)

        # Retries stopped at the limit: the log says so, and nothing more came.
        (entry,) = log
        assert entry["state"] == "failed" and entry["attempts"] == MAX_ATTEMPTS
        assert (entry["last_status"], entry["last_error"]) == (500, "status")
        assert len(broken.received) == MAX_ATTEMPTS and len(broken.by_message()) == 1
        # The queue gauges come from the database, so every worker reports them alike. (The
        # per-outcome counter is checked in-process, tests/webhooks/test_metrics.py: under
        # `serve` no counter reaches /metrics today, see the report on metrics.)
        assert metric(metrics, "authserver_webhook_queue_depth") == 0
        assert metric(metrics, "authserver_webhook_oldest_undelivered_age_seconds") == 0

        # Stopped with a retry pending: the SIEM is down, asking for 10 s.
        siem.answer = always("503 Service Unavailable", **{"Retry-After": "10"})
        before = len(siem.received)
        with server.running(workers=2):
            _failed_sign_in(server, "late@example.com")
            siem.wait_for(lambda: len(siem.received) == before + 1)
            # Until the 503 is recorded (the receiver has it before the worker writes it down).
            siem.wait_for(lambda: "sending" not in _states(server, token, siem_id))
            waiting = requests.get(f"{server.issuer}/metrics", timeout=10).text
            assert metric(waiting, "authserver_webhook_queue_depth") == 1
            assert metric(waiting, "authserver_webhook_oldest_undelivered_age_seconds") > 0
        interrupted = siem.received[-1].message_id
        # While no server runs, the CLI records an event: queued, not sent.
        server.cli("apikeys", "create", "--client", server.reader["client_id"], "--scope",
                   "audit:read")  # fmt: skip
        queued = json.loads(server.cli("webhooks", "deliveries", siem_id, "--state", "pending",
                                       "--json"))  # fmt: skip
        assert {d["id"] for d in queued} >= {interrupted} and len(queued) == 2
        siem.answer = always("200 OK")
        start, waiting_ids = len(siem.received), {d["id"] for d in queued}
        with server.running(workers=2):
            siem.wait_for(lambda: waiting_ids <= {r.message_id for r in siem.received[start:]},
                          seconds=40)  # fmt: skip
            siem.wait_for(lambda: _states(server, token, siem_id) == {"delivered"})
        late = siem.received[start:]
        assert sorted(r.message_id for r in late) == sorted(waiting_ids)  # each once
        assert all(r.verifies(siem_secret) for r in late)
        assert {r.json()["type"] for r in late} == {"account:sign-in:failed",
                                                    "apikey:key:created"}  # fmt: skip
        final = json.loads(server.cli("webhooks", "deliveries", siem_id, "--json"))
        assert {d["state"] for d in final} == {"delivered"} and len(final) == 4 + 2

    # The server's log (at DEBUG) holds neither secret nor the receivers' paths.
    text = server.log()
    assert siem_secret not in text and broken_secret not in text
    assert "/hooks/security" not in text
