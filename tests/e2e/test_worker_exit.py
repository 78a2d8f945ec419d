"""What a served worker does as it stops (``authserver serve``, SIGTERM): the work it holds in
memory reaches the database first. A Granian worker is a multiprocessing child, which ends
through ``os._exit`` without running atexit's functions; ``platform.process_exit.at_exit`` is
what runs there (authserver/platform/process_exit.py).

The usage counts show it: with a flush interval of an hour, the hourly count of issued tokens
reaches ``usage_counts`` only by the worker's last flush as it stops; the audit records of the
tokens (AUTHSERVER_AUDIT_TOKEN_ISSUANCE), queued for a background writer, are all there too."""

from __future__ import annotations

import requests
import sqlalchemy as sa

from tests.server_process import ServerProcess

TOKENS = 12


def _database(server: ServerProcess) -> tuple[int, int]:
    """The tokens the usage counts hold, and the token-issued audit records."""
    engine = sa.create_engine(server.env["AUTHSERVER_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            counted = connection.execute(
                sa.text("SELECT COALESCE(SUM(count), 0) FROM usage_counts "
                        "WHERE name = 'tokens_issued'")
            ).scalar_one()  # fmt: skip
            audited = connection.execute(
                sa.text("SELECT COUNT(*) FROM audit_events WHERE event = :tag"),
                {"tag": "oauth:token:issued"},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(counted), int(audited)


def test_a_stopping_worker_saves_what_it_counted_and_queued(tmp_path):
    server = ServerProcess(tmp_path, AUTHSERVER_USAGE_FLUSH_INTERVAL="1h",
                           AUTHSERVER_AUDIT_TOKEN_ISSUANCE="true")  # fmt: skip
    server.cli("init")
    client = server.orders_client("counted")
    with server.running(workers=2):
        with requests.Session() as session:
            for _ in range(TOKENS):
                answer = session.post(
                    server.issuer + "/oauth/token",
                    auth=(client["client_id"], client["client_secret"]),
                    data={"grant_type": "client_credentials"},
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
        assert _database(server)[0] == 0  # an hour's interval: nothing saved while it serves
    assert server.proc.returncode == 0, server.log()[-3000:]
    assert _database(server) == (TOKENS, TOKENS)
