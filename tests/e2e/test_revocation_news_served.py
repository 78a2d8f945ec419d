"""Revocation news across served workers on PostgreSQL without Redis (authserver.platform.pg_news):
`authserver serve` with two workers, each remembering a token's "not revoked" answer; once it is
revoked through either, the next introspection in every worker answers inactive."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict

from tests.e2e.served_metrics import metrics_folder, wait_for_workers
from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.server_process import ServerProcess

pytestmark = pytest.mark.postgres

LISTENER = "authserver revocation news"  # the listener connection's application_name


def _answers_per_worker(server: ServerProcess) -> dict[int, Counter]:
    """Per worker process, its introspection answers by result (its metrics file)."""
    answers: dict[int, Counter] = {}
    for path in metrics_folder(server).glob("counter_*.db"):
        seen = Counter()
        for key, number, *_ in MmapedDict.read_all_values_from_file(str(path)):
            name, sample, labels, *_ = json.loads(key)
            if name == "authserver_introspections" and sample.endswith("_total"):
                seen[labels["result"]] += number
        answers[int(path.stem.removeprefix("counter_"))] = seen
    return answers


def _listeners(database_url: str) -> int:
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND datname = %s"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(query, (LISTENER, conninfo.rsplit("/", 1)[-1])).fetchone()[0]


def test_a_revocation_reaches_every_served_workers_memory(tmp_path, postgres_url):  # noqa: F811
    database_url = postgres_url()
    server = ServerProcess(tmp_path, AUTHSERVER_DATABASE_URL=database_url)
    server.env.pop("AUTHSERVER_REDIS_URL", None)  # the PostgreSQL pass's Redis: not here
    server.cli("init")
    client = json.loads(server.cli("clients", "create", "--name", "rs", "--json"))
    auth = (client["client_id"], client["client_secret"])

    def introspect(_: int) -> bool:
        # A new connection each time, which either worker may accept.
        answer = requests.post(server.issuer + "/oauth/introspect", data={"token": token},
                               auth=auth, timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["active"]

    def until_every_worker(result: str, at_least: Counter) -> list[bool]:
        """Rounds of concurrent introspections until each worker answered ``result`` more
        often than ``at_least`` says (by pid); every answer seen."""
        seen: list[bool] = []
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(4) as pool:
            while True:
                seen += pool.map(introspect, range(8))
                counts = _answers_per_worker(server)
                if len(counts) == 2 and all(c[result] > at_least[p] for p, c in counts.items()):
                    return seen
                assert time.monotonic() < deadline, f"not every worker answered: {counts}"

    with server.running(workers=2):
        wait_for_workers(server, 2)
        issued = requests.post(server.issuer + "/oauth/token", auth=auth, timeout=10,
                               data={"grant_type": "client_credentials"})  # fmt: skip
        token = issued.json()["access_token"]
        # Each worker's first answer starts its listener; from then on it answers from memory.
        assert all(until_every_worker("active", Counter()))
        deadline = time.monotonic() + 30
        while _listeners(database_url) < 2:
            assert time.monotonic() < deadline, "the workers do not listen"
            time.sleep(0.05)
        twice_more = {p: c["active"] + 1 for p, c in _answers_per_worker(server).items()}
        assert all(until_every_worker("active", Counter(twice_more)))
        revoked = requests.post(server.issuer + "/oauth/revoke", data={"token": token},
                                auth=auth, timeout=10)  # fmt: skip
        assert revoked.status_code == 200
        once_more = {p: c["inactive"] for p, c in _answers_per_worker(server).items()}
        after = until_every_worker("inactive", Counter(once_more))
        assert not any(after), "a worker answered active after the revocation"
        log = server.log()
    assert "Traceback" not in log
