"""/metrics of `authserver serve --workers 2`: every counter and histogram the server defines
or the README documents is there, with the totals the client saw, summed over both workers;
each instance counts in its own folder, and a restarted one starts from zero."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import requests

from authserver.platform import metrics
from tests.e2e.served_metrics import drive, scrape, served, value, worker_counts
from tests.server_process import AUTHSERVER, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ALGS = ("ES256", "RS256", "Ed25519")


def test_counters_have_the_totals_the_client_saw_summed_over_two_workers(tmp_path):
    server = served(tmp_path)
    with server.running(workers=2):
        seen = drive(server)
        samples = scrape(server)
        per_worker = worker_counts(server, "authserver_tokens_issued")

    # Both workers issued tokens, and /metrics shows the sum of both.
    assert len(per_worker) == 2, per_worker
    assert sum(per_worker.values()) == seen.tokens
    assert value(samples, "authserver_tokens_issued_total", grant_type="client_credentials") == (
        seen.tokens
    )
    (kid,) = seen.kids
    assert value(samples, "authserver_tokens_signed_total", alg="ES256", kid=kid) == seen.tokens
    for status, count in seen.token_statuses.items():
        assert value(samples, "authserver_http_requests_total", endpoint="oauth.token",
                     method="POST", status=str(status)) == count, status  # fmt: skip
    answered = sum(seen.token_statuses.values())
    assert value(samples, "authserver_http_request_duration_seconds_count",
                 endpoint="oauth.token") == answered  # fmt: skip
    assert value(samples, "authserver_http_request_duration_seconds_bucket",
                 endpoint="oauth.token", le="+Inf") == answered  # fmt: skip
    # Failed client authentications past the budget: each 429 counted once.
    assert (
        value(samples, "authserver_rate_limited_total", endpoint="oauth.token")
        == (seen.token_statuses[429])
    )
    for result in ("active", "inactive"):
        assert (
            value(samples, "authserver_introspections_total", result=result)
            == (seen.introspections[result])
        )
    assert value(samples, "authserver_http_requests_total", endpoint="oauth.introspect",
                 method="POST", status="200") == sum(seen.introspections.values())  # fmt: skip
    assert value(samples, "authserver_sign_in_failures_total", method="password") == (
        seen.sign_in_failures
    )
    assert value(samples, "authserver_jwks_requests_total") == seen.jwks
    # Series known in advance are exported at zero before their first event.
    assert value(samples, "authserver_tokens_issued_total", grant_type="refresh_token") == 0
    assert value(samples, "authserver_rate_limited_total", endpoint="oauth.revoke") == 0
    # The gauges, computed from the database by whichever worker answers.
    for alg in ALGS:
        assert value(samples, "authserver_signing_key_active_age_seconds", alg=alg) >= 0
        assert value(samples, "authserver_signing_key_retirement_overdue_seconds", alg=alg) == 0
        assert value(samples, "authserver_signing_key_next_transition_seconds", alg=alg) > 0
    assert value(samples, "authserver_api_keys_expiring_soon") == 0


def test_every_defined_and_documented_metric_is_exported(tmp_path):
    server = served(tmp_path)
    with server.running(workers=2):
        drive(server, until_both_workers=False)
        exported = set(scrape(server))
    defined = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "gauge": ("",)}  # fmt: skip
    for family in metrics.COUNTERS:
        for described in family.describe():
            defined |= {described.name + suffix for suffix in suffixes[described.type]}
    source = (ROOT / "authserver" / "ops" / "metrics.py").read_text()
    defined |= set(re.findall(r'GaugeMetricFamily\(\s*"(authserver_[a-z_]+)"', source))
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Metrics and alerts", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(authserver_[a-z_]+)", section))
    assert len(defined) >= 13 and documented
    assert defined - exported == set()
    for name in documented:  # the README names counters by their sample name, histograms by base
        assert name in exported or f"{name}_count" in exported, name


def test_each_instance_counts_alone_and_a_restarted_one_from_zero(tmp_path):
    """Two instances on one host with one AUTHSERVER_METRICS_DIR: neither sees nor wipes the
    other's counts; one killed with SIGKILL (no clean stop) leaves its folder behind, and the
    instance started next removes it and counts only its own requests."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shared = {"AUTHSERVER_METRICS_DIR": str(tmp_path / "metrics")}
    a = served_with(tmp_path / "a", shared)
    b = served_with(tmp_path / "b", shared)
    folder = tmp_path / "metrics"

    with a.running(workers=2):
        issue(a, 3)
        killed = start_in_own_group(b)
        try:
            b._wait_until_up()
            issue(b, 5)
            assert issued_total(b) == 5
            assert issued_total(a) == 3  # b's start did not wipe a's folder
        finally:
            os.killpg(killed.pid, signal.SIGKILL)  # master and workers, no clean stop
            killed.wait(timeout=20)
        assert (folder / f"serve-{killed.pid}").is_dir()  # left behind by the killed one

        with b.running(workers=2):  # b again, on the same port and folder
            assert not (folder / f"serve-{killed.pid}").exists()
            issue(b, 2)
            assert issued_total(b) == 2
            assert issued_total(a) == 3
        assert sorted(p.name for p in folder.iterdir()) == [
            f"serve-{a.proc.pid}", f"serve-{a.proc.pid}.lock",
        ]  # fmt: skip
    assert list(folder.iterdir()) == []  # a clean stop removes the instance's folder


def served_with(tmp_path: Path, env: dict) -> ServerProcess:
    server = ServerProcess(tmp_path, **env)
    server.cli("init")
    server.client = json.loads(
        server.cli("clients", "create", "--name", "c", "--scope", "", "--json")
    )
    return server


def issue(server: ServerProcess, count: int) -> None:
    auth = (server.client["client_id"], server.client["client_secret"])
    for _ in range(count):
        response = requests.post(server.issuer + "/oauth/token", auth=auth, timeout=10,
                                 data={"grant_type": "client_credentials"})  # fmt: skip
        assert response.status_code == 200, response.text


def issued_total(server: ServerProcess) -> float:
    samples = scrape(server)
    return value(samples, "authserver_tokens_issued_total", grant_type="client_credentials")


def start_in_own_group(server: ServerProcess) -> subprocess.Popen:
    command = [AUTHSERVER, "serve", "--port", str(server.port), "--workers", "2"]
    with server.log_path.open("w") as log:
        return subprocess.Popen(command, env=server.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
