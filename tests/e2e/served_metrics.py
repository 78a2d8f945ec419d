"""Traffic against a served process and what its ``/metrics`` says about it: the helpers of the
served-metrics, dashboard and alert tests."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from joserfc import jws
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.server_process import ServerProcess

PASSWORD = "a long passphrase for ada"
#: Failed client authentications allowed per minute; the test traffic goes past it.
CLIENT_AUTH_LIMIT = "3/minute"


def served(tmp_path: Path) -> ServerProcess:
    """A server set up for the traffic below (not yet running)."""
    server = ServerProcess(tmp_path, AUTHSERVER_RATE_LIMIT_CLIENT_AUTH=CLIENT_AUTH_LIMIT)
    server.cli("init")
    server.client = server.orders_client("metrics")
    server.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    return server


@dataclasses.dataclass
class Seen:
    """What the client saw: the totals /metrics must show."""

    tokens: int = 0
    token_statuses: Counter = dataclasses.field(default_factory=Counter)
    introspections: Counter = dataclasses.field(default_factory=Counter)  # active / inactive
    sign_in_failures: int = 0
    jwks: int = 0
    kids: set = dataclasses.field(default_factory=set)


def drive(server: ServerProcess, *, until_both_workers: bool = True) -> Seen:
    """Tokens (concurrently, until both workers have issued some), introspections of a live
    and of a bogus token, sign-ins with a wrong password, JWKS fetches, and last (the failure
    budget then refuses even the right secret) wrong client secrets past the limit."""
    seen = Seen()
    client = server.client
    auth = (client["client_id"], client["client_secret"])

    def token(_: int) -> str:
        response = requests.post(server.issuer + "/oauth/token", auth=auth, timeout=10,
                                 data={"grant_type": "client_credentials"})  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    if until_both_workers:
        wait_for_workers(server, 2)
    issued: list[str] = []
    with ThreadPoolExecutor(4) as pool:
        for _ in range(25):  # each round on new connections, which either worker may accept
            issued += pool.map(token, range(8))
            if not until_both_workers or len(worker_counts(server, "authserver_tokens_issued")) > 1:
                break
    seen.tokens = len(issued)
    seen.token_statuses[200] = len(issued)
    seen.kids = {jws.extract_compact(t.encode()).headers()["kid"] for t in issued}

    url = server.issuer + "/oauth/introspect"
    for presented, times in ((issued[0], 5), ("not-a-token", 3)):
        for _ in range(times):
            answer = requests.post(url, data={"token": presented}, auth=auth, timeout=10)
            assert answer.status_code == 200
            seen.introspections["active" if answer.json()["active"] else "inactive"] += 1

    for _ in range(2):
        with requests.Session() as browser:
            page = browser.get(server.issuer + "/login", timeout=10).text
            csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            form = {"email": "ada@example.com", "password": "wrong " + PASSWORD, "csrf_token": csrf}
            assert browser.post(server.issuer + "/login", data=form, timeout=10).status_code == 401
            seen.sign_in_failures += 1

    for _ in range(4):
        assert requests.get(server.issuer + "/.well-known/jwks.json", timeout=10).ok
        seen.jwks += 1

    # Each worker keeps its own budget with in-memory counters (3 failures a minute), so 8
    # failures meet a 429 whichever worker each lands on; with Redis the budget is shared.
    for _ in range(8):
        wrong = requests.post(server.issuer + "/oauth/token", auth=(client["client_id"], "wrong"),
                              data={"grant_type": "client_credentials"}, timeout=10)  # fmt: skip
        assert wrong.status_code in (401, 429), wrong.text
        seen.token_statuses[wrong.status_code] += 1
    assert seen.token_statuses[429] > 0
    return seen


def scrape(server: ServerProcess) -> dict[str, list[tuple[dict, float]]]:
    """``/metrics`` as sample name → [(labels, value)]."""
    response = requests.get(server.issuer + "/metrics", timeout=10)
    assert response.status_code == 200
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    for have, number in samples.get(name, []):
        if have == labels:
            return number
    return None


def metrics_folder(server: ServerProcess) -> Path:
    return Path(server.env["AUTHSERVER_METRICS_DIR"]) / f"serve-{server.proc.pid}"


def wait_for_workers(server: ServerProcess, count: int, seconds: float = 60) -> None:
    """Until ``count`` workers have built their app (each then writes its counter file: the
    series known in advance, at zero). /readyz answers as soon as the first one has."""
    deadline = time.monotonic() + seconds
    while len(list(metrics_folder(server).glob("counter_*.db"))) < count:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)


def worker_counts(server: ServerProcess, metric: str) -> dict[int, float]:
    """Per worker process, the sum of ``metric``'s counter values in its multiprocess file."""
    counts = {}
    for path in metrics_folder(server).glob("counter_*.db"):
        total = sum(
            number
            for key, number, *_ in MmapedDict.read_all_values_from_file(str(path))
            if json.loads(key)[0] == metric
        )
        if total:
            counts[int(path.stem.removeprefix("counter_"))] = total
    return counts
