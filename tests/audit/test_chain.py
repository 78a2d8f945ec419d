"""The audit trail is a hash chain: any edited, removed or inserted record is found by
`authserver audit verify`, and concurrent writers from several processes never fork it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from authserver.cli import cli
from authserver.platform.extensions import db
from tests.conftest import make_app
from tests.pg import postgres_url  # noqa: F401 (fixture)

AUTHSERVER = str(Path(sys.executable).parent / "authserver")
PROCESSES = 6
ROLES_EACH = 10


@pytest.fixture
def trail(runner):
    """A few events beyond those `init` wrote."""
    for name in ("alpha", "beta", "gamma"):
        assert runner("roles", "create", name, "--scope", f"{name}:read").exit_code == 0
    return runner


def _sql(statement: str, **params) -> None:
    db.session.execute(text(statement), params)
    db.session.commit()


def test_an_untouched_chain_verifies(trail):
    result = trail("audit", "verify")
    assert result.exit_code == 0, result.output
    count = db.session.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    assert result.output.strip() == f"{count} records, chain intact" and count >= 6


def test_an_edited_record_is_found(trail):
    target = (
        db.session.execute(
            text("SELECT id FROM audit_events WHERE event = 'rbac:role:created' ORDER BY id")
        )
        .scalars()
        .first()
    )
    _sql("UPDATE audit_events SET actor = 'someone-else' WHERE id = :id", id=target)
    result = trail("audit", "verify")
    assert result.exit_code == 1
    assert f"at record {target}: its content was changed" in result.output


def test_a_removed_record_is_found(trail):
    ids = db.session.execute(text("SELECT id FROM audit_events ORDER BY id")).scalars().all()
    _sql("DELETE FROM audit_events WHERE id = :id", id=ids[2])
    result = trail("audit", "verify")
    assert result.exit_code == 1
    assert f"at record {ids[3]}: does not follow" in result.output


def test_a_removed_last_record_is_found(trail):
    last = db.session.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
    _sql("DELETE FROM audit_events WHERE id = :id", id=last)
    result = trail("audit", "verify")
    assert result.exit_code == 1 and "at the end" in result.output


def test_a_rewritten_tail_with_fresh_hashes_is_still_found(trail):
    # Recomputing one record's hash after editing it breaks the link of the next record.
    from authserver.audit.chain import content_hash
    from authserver.models import AuditEvent

    rows = db.session.query(AuditEvent).order_by(AuditEvent.id).all()
    victim = rows[1]
    victim.data = {**victim.data, "note": "forged"}
    victim.hash = content_hash(victim.prev_hash, victim.at, victim.event, victim.actor,
                               victim.outcome, victim.data)  # fmt: skip
    db.session.commit()
    result = trail("audit", "verify")
    assert result.exit_code == 1 and f"at record {rows[2].id}" in result.output


def test_tail_prints_the_newest_records(trail):
    result = trail("audit", "tail", "-n", "2")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["role"] for line in lines] == ["beta", "gamma"]


_WRITER = """
import pathlib, sys, time
from authserver.app import create_app
from authserver.cli import cli
n, count, go = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
runner = create_app().test_cli_runner()
print("ready", flush=True)
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
for i in range(count):
    result = runner.invoke(cli, ["roles", "create", f"p{n}-{i}", "--scope", f"x:{i}"])
    if result.exit_code != 0:
        sys.exit(result.output)
"""


def _concurrent_appends(tmp_path, url: str) -> tuple[subprocess.CompletedProcess, int, int]:
    """Several processes append at once; (audit verify's result, roles audited, forks)."""
    app = make_app(tmp_path, database_url=url)
    assert app.test_cli_runner().invoke(cli, ["init"]).exit_code == 0
    env = {
        **os.environ,
        "AUTHSERVER_DATABASE_URL": url,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
    }
    # One interpreter per writer, each creating its roles through the CLI's commands in turn:
    # the appends race, not the interpreters' start-up (30 `authserver` launches took minutes
    # on a loaded machine). Each waits for the go file, written once every writer is ready.
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(n), str(ROLES_EACH), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for n in range(PROCESSES)
    ]
    with contextlib.ExitStack() as stack:
        for proc in procs:
            stack.enter_context(proc)  # killed and its pipes closed however this ends
            stack.callback(proc.kill)
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    verified = subprocess.run([AUTHSERVER, "audit", "verify"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    engine = create_engine(url)
    with engine.connect() as conn:
        created = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE event = 'rbac:role:created'")
        ).scalar_one()
        forks = conn.execute(
            text("SELECT count(*) FROM (SELECT prev_hash FROM audit_events GROUP BY prev_hash "
                 "HAVING count(*) > 1) AS f")
        ).scalar_one()  # fmt: skip
    engine.dispose()
    with app.app_context():
        db.engine.dispose()
    return verified, created, forks


@pytest.mark.sqlite
def test_concurrent_writers_keep_one_chain_on_sqlite(tmp_path):
    verified, created, forks = _concurrent_appends(tmp_path, f"sqlite:///{tmp_path / 'auth.db'}")
    assert verified.returncode == 0, verified.stderr
    assert created == PROCESSES * ROLES_EACH and forks == 0


@pytest.mark.postgres
def test_concurrent_writers_keep_one_chain_on_postgresql(tmp_path, postgres_url):  # noqa: F811
    verified, created, forks = _concurrent_appends(tmp_path, postgres_url())
    assert verified.returncode == 0, verified.stderr
    assert created == PROCESSES * ROLES_EACH and forks == 0
